"""The eight orientations of a picture (quarter turns, with and without mirroring), and a canonical one.

A copy of a photo may be turned a quarter or half turn (a phone held sideways, a page scanned upside
down) or mirrored (a selfie camera, a scanner's lid). An :class:`Orientation` is one element of that group
of eight: mirror left to right (or not), then turn counter-clockwise by 0, 1, 2 or 3 quarter turns. It acts
on NumPy arrays (``[row, column, ...]``) and on Pillow images alike, and composes and inverts as the group
does.

**Canonical orientation** — to find rotated copies without comparing every image in all eight
orientations, each thumbnail is first turned into its own canonical orientation: the one that puts its
brightness *trend* (the first moments of its centred grey levels, a vector that the eight orientations
move to eight distinct octants) into the octant ``x ≥ y ≥ 0``. Two copies of one picture, however turned,
land on the same canonical orientation; brightness and contrast changes scale the trend but do not turn it.
Where the trend lies near an octant's edge (a crop or a re-encode could push it across) or is too weak to
say, :func:`canonical` lists the other plausible orientations too.

>>> import numpy as np
>>> a = np.arange(12).reshape(3, 4)
>>> turned = ROTATE_90.apply(a)
>>> ROTATE_90.inverse.apply(turned).tolist() == a.tolist()
True
>>> str(MIRROR.then(ROTATE_180))
'mirrored and rotated 180°'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

A = TypeVar("A", bound="np.generic")

# A trend weaker than this (the correlation of the centred grey levels with the best linear ramp) says
# nothing about the orientation: every orientation is plausible.
WEAK_TREND = 0.08
# Orientations whose trend lies within this angle (degrees) of the canonical octant are plausible too.
MARGIN_DEGREES = 12.0


@dataclass(frozen=True, order=True)
class Orientation:
    """Mirror left to right if ``mirror``, then turn ``turns`` quarter turns counter-clockwise (0–3)."""

    mirror: bool
    turns: int

    @property
    def code(self) -> int:
        """0–7: ``turns + 4·mirror``."""
        return self.turns + 4 * self.mirror

    @property
    def swaps_sides(self) -> bool:
        """Whether width and height trade places (an odd number of quarter turns)."""
        return self.turns % 2 == 1

    def apply(self, arr: npt.NDArray[A]) -> npt.NDArray[A]:
        """The array (``[row, column, ...]``) in this orientation (a view, not a copy)."""
        import numpy as np

        out = arr[:, ::-1] if self.mirror else arr
        return np.rot90(out, self.turns) if self.turns else out

    def apply_image(self, img: Image.Image) -> Image.Image:
        """A Pillow image in this orientation."""
        from PIL import Image

        out = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if self.mirror else img
        turn = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
        step = turn[self.turns]
        return out.transpose(step) if step is not None else out

    def apply_box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Where a box ``(x0, y0, x1, y1)`` (fractions of the width and height, y down) lies once the picture
        is in this orientation."""
        x0, y0, x1, y1 = (1 - box[2], box[1], 1 - box[0], box[3]) if self.mirror else box
        for _ in range(self.turns):  # a counter-clockwise quarter turn: (x, y) -> (y, 1 - x)
            x0, y0, x1, y1 = y0, 1 - x1, y1, 1 - x0
        return (x0, y0, x1, y1)

    def then(self, other: Orientation) -> Orientation:
        """This orientation followed by ``other``."""
        return _compose()[self.code][other.code]

    @property
    def inverse(self) -> Orientation:
        return next(o for o in ALL if self.then(o) == IDENTITY)

    def __str__(self) -> str:
        """How a person would say it: ``rotated 90° clockwise``, ``mirrored and rotated 180°``, ``as is``."""
        turn = ("", "rotated 90° counter-clockwise", "rotated 180°", "rotated 90° clockwise")[self.turns]
        if self.mirror:
            return f"mirrored and {turn}" if turn else "mirrored"
        return turn or "as is"

    def to_dict(self) -> dict[str, int | bool]:
        """``{"mirror": …, "rotate": degrees counter-clockwise}``: mirror first, then rotate."""
        return {"mirror": self.mirror, "rotate": 90 * self.turns}


ALL: tuple[Orientation, ...] = tuple(Orientation(m, t) for m in (False, True) for t in range(4))
IDENTITY, ROTATE_90, ROTATE_180, ROTATE_270, MIRROR = ALL[0], ALL[1], ALL[2], ALL[3], ALL[4]
#: Orientations that keep the picture's handedness (no mirror).
TURNS = ALL[:4]


@cache
def _compose() -> tuple[tuple[Orientation, ...], ...]:
    """table[a][b] = a then b, found by applying both to a 2×3 array of distinct values."""
    import numpy as np

    probe = np.arange(6).reshape(2, 3)
    seen = {o.apply(probe).tobytes() + bytes(o.apply(probe).shape): o for o in ALL}
    table = []
    for a in ALL:
        row = []
        for b in ALL:
            out = b.apply(a.apply(probe))
            row.append(seen[out.tobytes() + bytes(out.shape)])
        table.append(tuple(row))
    return tuple(table)


def oriented(stack: npt.NDArray[A], orientation: Orientation) -> npt.NDArray[A]:
    """A stack of square pictures ``[n, row, column, ...]``, each in ``orientation``."""
    import numpy as np

    out = stack[:, :, ::-1] if orientation.mirror else stack
    return np.rot90(out, orientation.turns, axes=(1, 2)) if orientation.turns else out


def trends(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``[n, 8, 2]``: for each square grey picture ``[n, s, s]`` and each orientation of :data:`ALL`, the
    first moments (x to the right, y up) of its centred grey levels, divided by the picture's standard
    deviation and the ramp's norm: the correlation with the best linear ramp, as a vector."""
    import numpy as np

    n, s, _ = grey.shape
    centred = grey - grey.mean((1, 2), keepdims=True)
    coords = np.arange(s, dtype=np.float32) - (s - 1) / 2
    scale = np.sqrt((coords**2).sum() * s) * np.maximum(np.sqrt((centred**2).sum((1, 2))), 1e-6)
    mx = (centred * coords[None, None, :]).sum((1, 2)) / scale
    my = (centred * -coords[None, :, None]).sum((1, 2)) / scale
    out = np.empty((n, len(ALL), 2), np.float32)
    for k, o in enumerate(ALL):
        # where the vector (mx, my) goes when the picture is put in orientation o
        probe = _vector_map(o)
        out[:, k, 0] = probe[0, 0] * mx + probe[0, 1] * my
        out[:, k, 1] = probe[1, 0] * mx + probe[1, 1] * my
    return out


@cache
def _vector_map(o: Orientation) -> npt.NDArray[np.float32]:
    """The 2×2 matrix that maps a picture's trend vector (x right, y up) to that of its orientation ``o``,
    found from two ramps."""
    import numpy as np

    s = 4
    coords = np.arange(s, dtype=np.float32) - (s - 1) / 2
    ramp_x = np.tile(coords, (s, 1))  # grows to the right
    ramp_y = np.tile(-coords[:, None], (1, s))  # grows upwards
    cols = []
    for ramp in (ramp_x, ramp_y):
        r = np.ascontiguousarray(o.apply(ramp))
        cols.append([(r * coords[None, :]).sum(), (r * -coords[:, None]).sum()])
    m = np.asarray(cols, np.float32).T
    out: npt.NDArray[np.float32] = m / np.abs(m).max()
    return out


def canonical(grey: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """The canonical orientation of each square grey picture ``[n, s, s]`` (an index into :data:`ALL`), and
    ``[n, 8]``: which orientations are plausible for it (the canonical one always; all eight where the
    trend is weaker than :data:`WEAK_TREND`; others whose trend lies within :data:`MARGIN_DEGREES` of the
    canonical octant). Two copies of one picture in any orientations share their canonical form: the
    picture turned into its canonical orientation."""
    import numpy as np

    t = trends(grey)
    angle = np.degrees(np.arctan2(t[..., 1], t[..., 0]))  # canonical octant: 0 ≤ angle ≤ 45
    outside = np.maximum(np.maximum(-angle, angle - 45.0), 0.0)
    best = outside.argmin(1)
    strength = np.hypot(t[:, 0, 0], t[:, 0, 1])
    plausible = (outside < MARGIN_DEGREES) | (strength < WEAK_TREND)[:, None]
    plausible[np.arange(len(best)), best] = True
    return best, plausible
