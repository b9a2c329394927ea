"""The coarse check: candidate pairs aligned and compared at 12×12.

Every view of an image (the whole image, and its content box when it has a uniform border) keeps a 32×32
RGB thumbnail (squashed to a square, 3 KB). A candidate pair of views comes with the orientation that
turns ``b`` to look like ``a`` (:mod:`~lookalike.dedup.candidates`). The coarse check compares 12×12
thumbnails at the best alignment — ``b`` in that orientation, and one side cut to any of the boxes of
:data:`CROP_BOXES` (sides of 75–100%, keeping ≥ 75% of the area) — by normalized cross-correlation (NCC,
each colour channel centred on its own mean) and by the root-mean-square difference after the bounded tone
map of :mod:`~lookalike.dedup.photometric` (RMSE). It is cheap and lets every re-encode, resize, turn,
crop and tone edit through; the fine check (:mod:`lookalike.dedup.fine`) then decides where content
differs.

NumPy only: area shrinking and box sampling are fixed linear maps (the same sampling as torchvision's
``roi_align`` with ``aligned=True`` and two samples per bin), applied as matrix products. Dihedral turns of
a square thumbnail are exact, and squashing commutes with them: the thumbnail of a turned image is the
turned thumbnail.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from lookalike.dedup.orientation import ALL, Orientation, oriented
from lookalike.dedup.photometric import match_tone

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BASE = 32
VERIFY = 12
# Two thumbnails whose pixels vary less than this (std, [0, 1] units) are flat: NCC is undefined for them, so
# flat pairs count as matching structure and only their RMSE decides.
FLAT_STD = 2 / 255
#: Crops keep at least this share of the area (and of each side, :data:`MIN_SIDE`).
MIN_AREA = 0.75
MIN_SIDE = 0.75
#: Boxes start every this fraction of the side along an axis that is cut.
BOX_STEP = 0.05
Box = tuple[float, float, float, float]


def _crop_boxes() -> list[Box]:
    """The whole image first, then boxes with sides in {1, 0.95, …, 0.75} covering ≥ :data:`MIN_AREA` of the
    area, at every :data:`BOX_STEP` along each axis that is cut (so that a crop anywhere lies within half a
    step of one), as (x0, y0, x1, y1) fractions — the larger boxes first."""
    sides = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75)
    boxes: list[Box] = []
    for w, h in sorted(itertools.product(sides, sides), key=lambda s: (-s[0] * s[1], -s[0], -s[1])):
        if w * h < MIN_AREA - 1e-9:
            continue
        xs = [round(i * BOX_STEP, 4) for i in range(round((1 - w) / BOX_STEP) + 1)]
        ys = [round(i * BOX_STEP, 4) for i in range(round((1 - h) / BOX_STEP) + 1)]
        boxes += [(x, y, round(x + w, 4), round(y + h, 4)) for y in ys for x in xs]
    return boxes


CROP_BOXES = _crop_boxes()
WHOLE = [CROP_BOXES[0]]
#: A few crops spread over the range, for a cheap first look (:data:`PREFILTER_SIZE` px) at whether a pair
#: might be a crop at all: sides of 0.87 at 3×3 places, and 0.8 of one side at 3 places along it.
SPARSE_BOXES: list[Box] = (
    [(x, y, x + 0.87, y + 0.87) for y in (0.0, 0.065, 0.13) for x in (0.0, 0.065, 0.13)]
    + [(0.0, y, 1.0, y + 0.8) for y in (0.0, 0.1, 0.2)]
    + [(x, 0.0, x + 0.8, 1.0) for x in (0.0, 0.1, 0.2)]
)
PREFILTER_SIZE = 8
#: For each of :data:`SPARSE_BOXES`, the boxes of :data:`CROP_BOXES` (indices) whose edges lie within
#: :data:`NEAR` of it: where the crop search goes on once a sparse box has matched.
NEAR = 0.1
NEAR_BOXES: list[list[int]] = [
    [
        i
        for i, c in enumerate(CROP_BOXES)
        if i and max(abs(u - v) for u, v in zip(c, s, strict=True)) <= NEAR + 1e-9
    ]
    for s in SPARSE_BOXES
]


@cache
def _area(n_in: int, n_out: int) -> npt.NDArray[np.float32]:
    """n_out×n_in matrix of adaptive average pooling (each output cell the mean of the input cells from
    floor(i·n_in/n_out) to ceil((i+1)·n_in/n_out))."""
    import numpy as np

    m = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


@cache
def _box_sampler(start: float, end: float, n_in: int = BASE, n_out: int = VERIFY) -> npt.NDArray[np.float32]:
    """n_out×n_in matrix sampling the span [start, end) (fractions) into n_out bins, two bilinear samples a
    bin, as ``roi_align(aligned=True, sampling_ratio=2)`` does along one axis."""
    import numpy as np

    m = np.zeros((n_out, n_in), np.float32)
    lo = start * n_in - 0.5
    step = (end - start) * n_in / n_out
    for i in range(n_out):
        for s in (0.25, 0.75):
            x = lo + (i + s) * step
            if x < -1.0 or x > n_in:
                continue
            x = max(x, 0.0)
            x0 = int(x)
            if x0 >= n_in - 1:
                m[i, n_in - 1] += 0.5
                continue
            frac = x - x0
            m[i, x0] += 0.5 * (1 - frac)
            m[i, x0 + 1] += 0.5 * frac
    return m


@dataclass(frozen=True)
class Match:
    """The best coarse alignment of a pair of views (a, b): NCC, RMSE (after the tone map), the orientation
    that turns ``b`` to look like ``a``, which side was cut ("", "a" or "b", ``b`` in that orientation) and
    to which box of :data:`CROP_BOXES` (0 = the whole view)."""

    ncc: float
    rmse: float
    orientation: Orientation
    cropped: str
    box: int

    def passes(self, min_ncc: float, max_rmse: float) -> bool:
        return self.ncc >= min_ncc and self.rmse <= max_rmse


@dataclass
class Thumbnails:
    """The BASE×BASE RGB thumbnails of every view (uint8 N×BASE×BASE×3), read as [0, 1] floats."""

    base: npt.NDArray[np.uint8]
    _whole: dict[int, npt.NDArray[np.float32]] = field(default_factory=dict, repr=False)

    @classmethod
    def stack(cls, thumbs: Sequence[npt.NDArray[np.uint8]]) -> Thumbnails:
        import numpy as np

        return cls(np.stack(thumbs) if thumbs else np.zeros((0, BASE, BASE, 3), np.uint8))

    @staticmethod
    def as_floats(base: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """N×3×BASE×BASE floats in [0, 1] from N×BASE×BASE×3 uint8."""
        import numpy as np

        out: npt.NDArray[np.float32] = np.ascontiguousarray(base.transpose(0, 3, 1, 2), dtype=np.float32)
        out /= np.float32(255)
        return out

    def shrunk(self, size: int, base: npt.NDArray[np.uint8] | None = None) -> npt.NDArray[np.float32]:
        """N×3×size×size: every thumbnail (of ``base``, default all) area-averaged, 4096 at a time."""
        import numpy as np

        src = self.base if base is None else base
        m = _area(BASE, size)
        parts = [m @ self.as_floats(src[i : i + 4096]) @ m.T for i in range(0, len(src), 4096)]
        if not parts:
            return np.zeros((0, 3, size, size), np.float32)
        return np.concatenate(parts)

    def whole(self, size: int = VERIFY) -> npt.NDArray[np.float32]:
        """N×(3·size²): each view whole, area-averaged to size×size (computed once per size)."""
        if size not in self._whole:
            self._whole[size] = self.shrunk(size).reshape(len(self.base), -1)
        return self._whole[size]

    def views(
        self,
        ix: npt.NDArray[np.intp],
        boxes: Sequence[Box],
        codes: npt.NDArray[np.intp] | None = None,
        size: int = VERIFY,
    ) -> npt.NDArray[np.float32]:
        """len(ix)×len(boxes)×(3·size²): each box of each view, the view first put in the orientation
        ``ALL[codes[i]]`` (default as is), resampled to size×size."""
        import numpy as np

        if codes is None:
            codes = np.zeros(len(ix), np.intp)
        out = np.empty((len(ix), len(boxes), 3 * size * size), np.float32)
        if len(boxes) == 1 and boxes[0] == WHOLE[0]:
            for code in np.unique(codes).tolist():
                sel = codes == code
                grid = self.whole(size)[ix[sel]].reshape(-1, 3, size, size)
                turned = oriented(grid.transpose(0, 2, 3, 1), ALL[code]).transpose(0, 3, 1, 2)
                out[sel, 0] = turned.reshape(int(sel.sum()), -1)
            return out
        # boxes share their spans: sample each distinct vertical span once, then each box's horizontal one
        ys = sorted({(b[1], b[3]) for b in boxes})
        xs = sorted({(b[0], b[2]) for b in boxes})
        ry = np.stack([_box_sampler(y0, y1, BASE, size) for y0, y1 in ys])[None, :, None]  # 1×ny×1×V×B
        rx = [_box_sampler(x0, x1, BASE, size).T for x0, x1 in xs]
        iy = [ys.index((b[1], b[3])) for b in boxes]
        ix_ = [xs.index((b[0], b[2])) for b in boxes]
        for code in np.unique(codes).tolist():
            sel = np.flatnonzero(codes == code)
            src = self.as_floats(np.ascontiguousarray(oriented(self.base[ix[sel]], ALL[code])))
            rows = ry @ src[:, None]  # n×ny×3×V×B
            for k in range(len(boxes)):
                out[sel, k] = (rows[:, iy[k]] @ rx[ix_[k]]).reshape(len(sel), -1)
        return out


def _unit(raw: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Rows ``[..., 3·size²]`` centred per channel and scaled to unit length — the inner product of two is
    their normalized cross-correlation, blind to brightness, contrast and a slight colour cast — and
    whether each row is flat (no structure to correlate)."""
    import numpy as np

    x = raw.reshape(*raw.shape[:-1], 3, -1)
    x = (x - x.mean(-1, keepdims=True)).reshape(raw.shape)
    norm = np.sqrt(np.einsum("...d,...d->...", x, x))
    flat = norm < FLAT_STD * np.sqrt(raw.shape[-1])
    x /= np.maximum(norm, 1e-12)[..., None]
    return x, flat


def _rmse(x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """RMS difference of rows ``[n, 3·size²]`` after ``y`` is tone-matched to ``x``."""
    import numpy as np

    xs, ys = x.reshape(len(x), 3, -1), y.reshape(len(y), 3, -1)
    out: npt.NDArray[np.float32] = np.sqrt(np.square(xs - match_tone(xs, ys)).mean((1, 2)))
    return out


@dataclass
class Matches:
    """The best alignments of many pairs, as arrays: ``ncc``, ``rmse`` (NaN where not measured), ``cut``
    (0: neither side, 1: ``a``, 2: ``b``), ``box`` (an index into the boxes searched) and the pairs' rows
    ``(a, b, code)``."""

    ncc: npt.NDArray[np.float32]
    rmse: npt.NDArray[np.float32]
    cut: npt.NDArray[np.int8]
    box: npt.NDArray[np.intp]
    rows: npt.NDArray[np.intp]

    def passes(self, min_ncc: float, max_rmse: float) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = (self.ncc >= min_ncc) & (self.rmse <= max_rmse)
        return out

    def match(self, i: int, boxes: Sequence[int] | None = None) -> Match:
        """Row ``i`` as a :class:`Match`; ``boxes`` maps the box index to :data:`CROP_BOXES` (default: as
        is)."""
        k = int(self.box[i])
        return Match(
            ncc=min(1.0, float(self.ncc[i])),
            rmse=float(self.rmse[i]),
            orientation=ALL[int(self.rows[i, 2])],
            cropped=("", "a", "b")[int(self.cut[i])],
            box=k if boxes is None else boxes[k],
        )


def verify(
    thumbs: Thumbnails,
    pairs: Sequence[tuple[int, int, int]],
    boxes: Sequence[Box],
    *,
    cut: str | None = None,
    size: int = VERIFY,
) -> list[Match]:
    """The best alignment of each pair ``(a, b, code)`` of views, ``b`` in orientation ``ALL[code]``: ``a``
    cut to each box against ``b`` whole, or ``a`` whole against ``b`` cut to each box (only the side ``cut``,
    "a" or "b", when given). Best = highest NCC; the RMSE is taken there. ``Match.box`` indexes
    ``boxes``."""
    import numpy as np

    found = verify_all(thumbs, np.asarray(pairs, dtype=np.intp).reshape(-1, 3), boxes, cut=cut, size=size)
    return [found.match(i) for i in range(len(found.ncc))]


def verify_all(
    thumbs: Thumbnails,
    pairs: npt.NDArray[np.intp],
    boxes: Sequence[Box],
    *,
    cut: str | None = None,
    size: int = VERIFY,
    rmse_from: float = -1.0,
) -> Matches:
    """:func:`verify` for an array of pairs ``[n, 3]``, as arrays; the RMSE only where the NCC reaches
    ``rmse_from`` (NaN elsewhere: a pair that fails on NCC needs none)."""
    import numpy as np

    sides = {None: (True, False), "a": (True,), "b": (False,)}[cut]
    is_whole = len(boxes) == 1 and boxes[0] == WHOLE[0]
    if is_whole:  # whole against whole: cutting either side is the same comparison
        sides = sides[:1]
    n = len(pairs)
    out = Matches(
        np.zeros(n, np.float32),
        np.full(n, np.nan, np.float32),
        np.zeros(n, np.int8),
        np.zeros(n, np.intp),
        pairs,
    )
    chunk = max(256, (1 << 22) // (len(boxes) * 3 * size * size))  # gathers of ≤ 16 MB
    for start in range(0, n, chunk):
        part = pairs[start : start + chunk]
        rows = np.arange(len(part))
        # a as is, b in its orientation; each view sampled once whole and, where it is cut, once per box
        keys = np.stack([part[:, 0] * 8, part[:, 1] * 8 + part[:, 2]])
        uniq, inv = np.unique(keys, return_inverse=True)
        ab = inv.reshape(2, -1)
        whole = thumbs.views(uniq // 8, WHOLE, uniq % 8, size)[:, 0]  # n×D
        w_unit, w_flat = _unit(whole)
        cut_views: dict[
            bool,
            tuple[
                npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.bool_], npt.NDArray[np.intp]
            ],
        ] = {}
        for crop_a in sides:
            side = ab[0] if crop_a else ab[1]
            if is_whole:
                cut_views[crop_a] = (whole[:, None], w_unit[:, None], w_flat[:, None], side)
                continue
            keys_cut, at = np.unique(side, return_inverse=True)
            raw = thumbs.views(uniq[keys_cut] // 8, boxes, uniq[keys_cut] % 8, size)
            cut_views[crop_a] = (raw, *_unit(raw), at)
        nccs, picks = [], []
        for crop_a in sides:
            _, unit, flat, at = cut_views[crop_a]
            other = ab[1] if crop_a else ab[0]
            # the cut side (every box) against the other side whole
            ncc = np.einsum("pkd,pd->pk", unit[at], w_unit[other])
            # flat on both sides: no structure to differ, so only the RMSE (brightness) decides
            ncc = np.where(flat[at] & w_flat[other][:, None], 1.0, ncc)
            picks.append(ncc.argmax(1))
            nccs.append(ncc[rows, picks[-1]])
        scores = np.stack(nccs, 1)
        which = scores.argmax(1)
        box = np.stack(picks, 1)[rows, which]
        best = scores[rows, which]
        sl = slice(start, start + len(part))
        out.ncc[sl], out.box[sl] = np.minimum(best, 1.0), box
        cut_a = np.asarray(sides)[which]
        out.cut[sl] = 0 if is_whole else np.where(cut_a, 1, 2)
        need = np.flatnonzero(best >= rmse_from)
        if not len(need):
            continue
        x = np.empty((len(need), whole.shape[1]), np.float32)
        y = np.empty_like(x)
        for w, crop_a in enumerate(sides):
            sel = which[need] == w
            raw, _, _, at = cut_views[crop_a]
            rr = need[sel]
            boxed, other = raw[at[rr], box[rr]], whole[(ab[1] if crop_a else ab[0])[rr]]
            x[sel], y[sel] = (boxed, other) if crop_a else (other, boxed)
        out.rmse[start + need] = _rmse(x, y)
    return out
