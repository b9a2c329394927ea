"""The fine check: is a candidate pair the same picture where its content differs?

At 12×12 two pages of text in one layout, or two windows of one app, are the same picture; a duplicate must
be confirmed at a resolution where distinct content differs. Each image keeps a grey thumbnail whose long
side is at most :data:`FINE` pixels (its own size when smaller). For a pair, the alignment found by the
coarse check (mirrored or not, which side is cropped to which box) is refined there by a coarse-to-fine
search that moves each edge of the box, maximising the correlation of the two resampled images; then both
are compared on one grid — the whole side's shape, at the resolution of the smaller of the two:

* **structure** — the SSIM of each tile (≈ 1/8 of the shorter side, at least 8 px), and the *lowest* tile
  counts: a duplicate matches everywhere, while two pages of different words, or two screens whose text
  differs in one panel, fail in the tiles where they differ. A re-encode or a resize blurs each tile a
  little and changes none.
* **colour** — the largest difference in mean RGB of the 8×8 px tiles of the aligned 32×32 colour
  thumbnails: grey tells a red disc from a blue one of the same brightness only here.

Everything is NumPy and Pillow (no torch): resampling with a box is Pillow's antialiased resize.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

#: Long side of the grey thumbnail kept per image for the fine check.
FINE = 256
#: Smallest tile side in pixels, and the number of tiles across the shorter side of the grid.
TILE_MIN = 8
TILES_ACROSS = 8
# The detail score's tiles: 1/12 of the side, in two tilings half a tile apart, so that a small shape
# spans several tiles whichever way it falls (a disc and a square of one size and colour differ only in
# their corners, which a 1/8 tile averages away: SSIM 0.81 there, 0.28 here; duplicates ≥ 0.68 here).
DETAIL_ACROSS = 12
# SSIM's stabilising constants for values in [0, 1]: (0.01)² and (0.03)² as in Wang et al. 2004.
C1 = 0.01**2
C2 = 0.03**2
# The box of the cut side keeps at least this much of each side (crops keeping ≥ 90% of the area cut no
# side below 0.9), and a mirror image at most a thin border (mirroring and recomposing together would let
# any symmetric shape match its neighbour at the mirrored place): a box may not shrink onto a look-alike
# detail of a distinct image.
MIN_SIDE = 0.9
MIN_SIDE_FLIPPED = 0.97
# No edge moves further than this (fraction) from where the coarse check put it: the coarse boxes are
# spaced 0.025–0.05 apart, and a wider search finds false optima in periodic content (rows of a list).
RADIUS = 0.04
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the cropped side
WHOLE: Box = (0.0, 0.0, 1.0, 1.0)
# A refined box that cuts more than this from some side (fraction) makes the pair a crop.
CUT_MIN = 0.01


@dataclass(frozen=True)
class FineMatch:
    """The fine verdict's numbers for one pair at its refined alignment.

    ``ssim`` is the lowest tile SSIM of the grey images (1 = identical), ``detail`` the same over tiles
    of 1/12 of the side in two offset tilings (:data:`DETAIL_ACROSS`), ``colour`` the largest tile
    difference of mean colour (0–1 scale), ``size`` the grid they were compared on (width, height),
    ``box`` the refined box of the cut side (fractions), ``flipped`` whether ``b`` was mirrored, and
    ``cropped_a`` whether the box is on ``a`` (else on ``b``).
    """

    ssim: float
    colour: float
    size: tuple[int, int]
    box: Box
    flipped: bool = False
    cropped_a: bool = True
    detail: float = 1.0

    @property
    def cropped(self) -> str:
        """The side cut to ``box``: ``"a"`` or ``"b"``, or ``""`` when the box keeps (nearly) all of it."""
        cut = max(self.box[0], self.box[1], 1 - self.box[2], 1 - self.box[3]) > CUT_MIN
        return ("a" if self.cropped_a else "b") if cut else ""


def fine_thumbnail(img: Image.Image) -> Image.Image:
    """The grey thumbnail kept for the fine check: long side ≤ :data:`FINE`, aspect kept, never enlarged."""
    from PIL import Image

    grey = img.convert("L")
    scale = FINE / max(grey.size)
    if scale < 1:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    return grey


def _grid(x: Image.Image, y: Image.Image, box: Box, cap: int | None = None) -> tuple[int, int]:
    """The comparison grid: ``y``'s shape, at the resolution of whichever side has fewer pixels there
    (the box of ``x`` or the whole of ``y``), long side at most ``cap``."""
    bw, bh = (box[2] - box[0]) * x.width, (box[3] - box[1]) * x.height
    r = min(1.0, bw / y.width, bh / y.height)
    if cap is not None:
        r = min(r, cap / max(y.width, y.height))
    return max(2, round(y.width * r)), max(2, round(y.height * r))


def _sample(img: Image.Image, box: Box, size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """``box`` (fractions) of ``img`` resampled to ``size``, as floats in [0, 1]."""
    import numpy as np
    from PIL import Image

    px = (box[0] * img.width, box[1] * img.height, box[2] * img.width, box[3] * img.height)
    out = img.resize(size, Image.Resampling.BILINEAR, box=px, reducing_gap=None)
    arr: npt.NDArray[np.float32] = np.asarray(out, dtype=np.float32) / np.float32(255)
    return arr


def _ncc(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    import numpy as np

    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / den if den > 1e-12 else 1.0


def _levels(x: Image.Image, y: Image.Image, box: Box) -> list[int]:
    """Grid sizes (long side) of the coarse-to-fine search: 64 and 128 below the full grid, then it (a
    32 px grid finds false optima in rows of text and lists, and saves little)."""
    full = max(_grid(x, y, box))
    return [s for s in (64, 128) if s < full] + [full]


def _reduced(img: Image.Image, side: int) -> Image.Image:
    """``img`` box-reduced by a whole factor while its long side stays at least twice ``side``."""
    factor = max(img.size) // (2 * side)
    return img.reduce(factor) if factor > 1 else img


def refine(
    x: Image.Image,
    y: Image.Image,
    box: Box,
    cap: int,
    steps: Sequence[float],
    *,
    origin: Box | None = None,
    min_side: float = MIN_SIDE,
) -> tuple[Box, float]:
    """The box of ``x`` that best matches the whole of ``y`` near ``box`` on the grid whose long side is
    ``cap``, and their correlation there.

    For each step of ``steps`` (in grid pixels), each edge of the box moves by that step while the
    normalized cross-correlation of the resampled pair improves, staying within :data:`RADIUS` of
    ``origin`` (default ``box``) and keeping sides of at least ``min_side``.
    """
    import numpy as np

    home = box if origin is None else origin
    size = _grid(x, y, box, cap)
    # resampling costs in proportion to the source: search on copies reduced to about twice the grid
    x = _reduced(x, max(size))
    target = _sample(_reduced(y, max(size)), WHOLE, size).ravel()
    target = target - target.mean()
    target /= max(float(np.linalg.norm(target)), 1e-12)

    def nccs(boxes: list[Box]) -> npt.NDArray[np.float32]:
        xs = np.stack([_sample(x, b, size).ravel() for b in boxes])
        xs -= xs.mean(1, keepdims=True)
        out: npt.NDArray[np.float32] = (xs @ target) / np.maximum(np.linalg.norm(xs, axis=1), 1e-12)
        return out

    best, score = box, float(nccs([box])[0])
    for fraction in steps:
        # a step as a fraction of x's width and height
        dx = fraction * (best[2] - best[0]) / size[0]
        dy = fraction * (best[3] - best[1]) / size[1]
        for _ in range(4):  # each round: every edge moved both ways, the best move kept
            trials: list[Box] = []
            for edge, d in ((0, dx), (1, dy), (2, dx), (3, dy)):
                for sign in (-1.0, 1.0):
                    t = list(best)
                    t[edge] = min(1.0, max(0.0, t[edge] + sign * d))
                    if abs(t[edge] - home[edge]) <= RADIUS and min(t[2] - t[0], t[3] - t[1]) >= min_side:
                        trials.append((t[0], t[1], t[2], t[3]))
            if not trials:
                break
            scores = nccs(trials)
            k = int(scores.argmax())
            if scores[k] <= score + 1e-6:
                break
            best, score = trials[k], float(scores[k])
    return best, score


def _soften(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A [1, 2, 1]/4 blur along both axes: the two sides of a pair are resampled differently (one from a
    box at a sub-pixel offset, one whole), and this evens out the half-pixel of blur between them while
    words, lines and edges stay."""
    import numpy as np

    p = np.pad(a, 1, mode="edge")
    v = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4
    return np.asarray((v[:, :-2] + 2 * v[:, 1:-1] + v[:, 2:]) / 4, dtype=np.float32)


def tile_ssim(
    a: npt.NDArray[np.float32],
    b: npt.NDArray[np.float32],
    across: int = TILES_ACROSS,
    *,
    offset: bool = False,
) -> float:
    """The lowest SSIM over the tiles of two equal-shape grey images in [0, 1].

    Both are softened first (:func:`_soften`). Tiles are about 1/``across`` of the shorter side and at
    least :data:`TILE_MIN` px; each tile's SSIM uses its own mean, variance and covariance (Wang et al.
    2004, with a uniform window the size of the tile). With ``offset`` a second tiling, shifted by half a
    tile both ways, counts too: a small difference that straddles tiles of one tiling lies in one tile of
    the other.
    """
    import numpy as np

    h, w = a.shape
    side = max(TILE_MIN, round(min(h, w) / across))
    a64, b64 = _soften(a).astype(np.float64), _soften(b).astype(np.float64)
    lowest = 1.0
    for shift in (0, side // 2) if offset and min(h, w) >= 2 * side else (0,):
        aa, bb = a64[shift:, shift:], b64[shift:, shift:]
        hh, ww = aa.shape
        ys = np.unique(np.linspace(0, hh, max(1, round(hh / side)) + 1).round().astype(np.intp))[:-1]
        xs = np.unique(np.linspace(0, ww, max(1, round(ww / side)) + 1).round().astype(np.intp))[:-1]

        def sums(
            v: npt.NDArray[np.float64], ys: npt.NDArray[np.intp] = ys, xs: npt.NDArray[np.intp] = xs
        ) -> npt.NDArray[np.float64]:
            return np.add.reduceat(np.add.reduceat(v, ys, axis=0), xs, axis=1)

        n = sums(np.ones_like(aa))
        ma, mb = sums(aa) / n, sums(bb) / n
        va = np.maximum(sums(aa * aa) / n - ma * ma, 0.0)
        vb = np.maximum(sums(bb * bb) / n - mb * mb, 0.0)
        cov = sums(aa * bb) / n - ma * mb
        ssim = ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2))
        lowest = min(lowest, float(ssim.min()))
    return lowest


def colour_difference(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], box: Box, cropped_a: bool) -> float:
    """The largest difference of mean colour (mean over R, G, B of |Δ|, 0–1) over the 8×8 px tiles of two
    32×32 RGB thumbnails, the cropped side resampled to ``box`` first."""
    import numpy as np
    from PIL import Image

    side = a.shape[0]
    x, y = (a, b) if cropped_a else (b, a)
    px = tuple(v * side for v in box)
    xs = np.asarray(
        Image.fromarray(x).resize((side, side), Image.Resampling.BILINEAR, box=px, reducing_gap=None),
        dtype=np.float32,
    )
    t = side // 4
    diff = (xs - y.astype(np.float32)).reshape(4, t, 4, t, 3).mean(axis=(1, 3))
    return float(np.abs(diff).mean(-1).max() / 255)


@dataclass(frozen=True)
class Start:
    """An alignment to start the fine search from: ``b`` mirrored or not, and which side is cut to ``box``
    (``a`` when ``cropped_a``, else ``b``; the other side whole)."""

    flipped: bool
    cropped_a: bool
    box: Box


def compare(
    a: Image.Image,
    b: Image.Image,
    starts: Sequence[Start],
    *,
    base_a: npt.NDArray[np.uint8],
    base_b: npt.NDArray[np.uint8],
    give_up_below: float = -1.0,
    enough: Callable[[FineMatch], bool] | None = None,
) -> FineMatch:
    """Refine the alignment of a pair and compare it tile by tile (see the module docstring).

    ``a`` and ``b`` are fine thumbnails (:func:`fine_thumbnail`), ``base_a`` / ``base_b`` their 32×32 RGB
    thumbnails. Each of ``starts`` (e.g. the coarse check's best alignment, then the best with ``a`` cut
    and with ``b`` cut), in order until one is ``enough`` (e.g. passes the thresholds), is refined on grids
    of 64, 128, … px up to the full one; the first that is enough counts, else the one with the highest
    lowest-tile SSIM. A start whose SSIM on a 64 or 128 px grid is below ``give_up_below`` is
    decided there (``size`` says which grid): duplicates score ≥ 0.95 on those grids once aligned
    (benchmarks/dedup.py), and a pair that far apart does not come together one grid later.
    """
    import numpy as np
    from PIL import ImageOps

    if not starts:
        raise ValueError("compare needs at least one start")
    mirrored: dict[bool, tuple[Image.Image, npt.NDArray[np.uint8]]] = {False: (b, base_b)}
    if any(st.flipped for st in starts):
        mirrored[True] = (ImageOps.mirror(b), np.ascontiguousarray(base_b[:, ::-1]))

    def steps(n: int, last: bool) -> list[float]:
        # 1 and ½ grid pixel on the first grid, ½ on later ones (the previous left the box within one
        # pixel), and ¼ more on the last
        return ([1.0, 0.5] if n == 0 else [0.5]) + ([0.25] if last else [])

    def search(st: Start) -> tuple[float, Box, tuple[int, int], float]:
        """One start through every grid; decided early where the tile SSIM on a 64 or 128 px grid falls
        below ``give_up_below``."""
        bb = mirrored[st.flipped][0]
        x, y = (a, bb) if st.cropped_a else (bb, a)
        side = MIN_SIDE_FLIPPED if st.flipped else MIN_SIDE
        levels = _levels(x, y, st.box)
        box, ssim, size, detail = st.box, -1.0, _grid(x, y, st.box), -1.0
        for n, cap in enumerate(levels):
            last = n == len(levels) - 1
            box, _ = refine(x, y, box, cap, steps(n, last), origin=st.box, min_side=side)
            if last or cap >= 64:
                size = _grid(x, y, box, cap)
                xs, ys = _sample(x, box, size), _sample(y, WHOLE, size)
                ssim = tile_ssim(xs, ys)
                if ssim < give_up_below:  # hopeless already: decided on this grid
                    break
                if last:
                    detail = tile_ssim(xs, ys, DETAIL_ACROSS, offset=True)
        return ssim, box, size, detail

    best: FineMatch | None = None
    for st in starts:  # in order, until one is good enough
        ssim, box, size, detail = search(st)
        colour = colour_difference(base_a, mirrored[st.flipped][1], box, st.cropped_a)
        match = FineMatch(ssim, colour, size, box, st.flipped, st.cropped_a, detail)
        ok = enough is not None and enough(match)
        if best is None or ok or ssim > best.ssim:
            best = match
        if ok:
            break
    assert best is not None
    return best
