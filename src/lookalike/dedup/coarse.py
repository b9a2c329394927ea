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
from lookalike.dedup.photometric import CLIPPED, match_tone

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
    to which box of :data:`CROP_BOXES` (0 = the whole view) — or, for an alignment read from the pictures'
    subjects (:mod:`~lookalike.dedup.subjects`), to the box ``exact``."""

    ncc: float
    rmse: float
    orientation: Orientation
    cropped: str
    box: int
    exact: Box | None = None

    @property
    def region(self) -> Box:
        """The box of the cut side (fractions of its view)."""
        return CROP_BOXES[self.box] if self.exact is None else self.exact

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
        out = np.empty((len(src), 3, size, size), np.float32)  # (filled in place: no second copy)
        for i in range(0, len(src), 4096):
            out[i : i + 4096] = m @ self.as_floats(src[i : i + 4096]) @ m.T
        return out

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
        if len(boxes) == 1 and boxes[0] == WHOLE[0]:
            return _turned(self.whole(size)[ix], codes, size)[:, None]
        out = np.empty((len(ix), len(boxes), 3 * size * size), np.float32)
        # boxes share their vertical spans: sample each span once (one matrix product for all), then each
        # box's horizontal span (one product per vertical span, for all its boxes)
        ys = sorted({(b[1], b[3]) for b in boxes})
        ry = np.concatenate([_box_sampler(y0, y1, BASE, size) for y0, y1 in ys]).T / np.float32(255)
        of_y = [[k for k, b in enumerate(boxes) if (b[1], b[3]) == span] for span in ys]
        rx = [
            np.concatenate([_box_sampler(boxes[k][0], boxes[k][2], BASE, size) for k in ks]).T for ks in of_y
        ]
        out5 = out.reshape(len(ix), len(boxes), 3, size, size)
        for code in np.unique(codes).tolist():
            sel = np.flatnonzero(codes == code)
            src = oriented(self.base[ix[sel]], ALL[code])  # n×y×x×3
            cols = np.ascontiguousarray(src.transpose(0, 3, 2, 1), dtype=np.float32).reshape(-1, BASE) @ ry
            cols = cols.reshape(len(sel), 3, BASE, len(ys), size)  # n×3×x×span×y
            for j, ks in enumerate(of_y):
                part = np.ascontiguousarray(cols[:, :, :, j].transpose(0, 1, 3, 2)).reshape(-1, BASE) @ rx[j]
                part = part.reshape(len(sel), 3, size, len(ks), size).transpose(0, 3, 1, 2, 4)
                if len(ks) == len(boxes):
                    out5[sel] = part
                else:
                    out5[sel[:, None], np.asarray(ks)[None, :]] = part
        return out

    def each_box(
        self,
        ix: npt.NDArray[np.intp],
        boxes: Sequence[Box],
        codes: npt.NDArray[np.intp] | None = None,
        size: int = VERIFY,
    ) -> npt.NDArray[np.float32]:
        """len(ix)×(3·size²): box ``boxes[i]`` of view ``ix[i]`` in orientation ``ALL[codes[i]]`` (default
        as is), resampled to size×size — one box per view, as :meth:`views` samples them."""
        import numpy as np

        out = np.empty((len(ix), 3, size, size), np.float32)
        if not len(ix):
            return out.reshape(0, 3 * size * size)
        codes = np.zeros(len(ix), np.intp) if codes is None else codes
        kinds = sorted(set(boxes))
        which = np.asarray([kinds.index(b) for b in boxes])
        ry = np.stack([_box_sampler(b[1], b[3], BASE, size) for b in kinds])[which][:, None]  # n×1×S×B
        rx = np.stack([_box_sampler(b[0], b[2], BASE, size).T for b in kinds])[which][:, None]  # n×1×B×S
        for code in np.unique(codes).tolist():
            sel = np.flatnonzero(codes == code)
            src = self.as_floats(np.ascontiguousarray(oriented(self.base[ix[sel]], ALL[code])))
            out[sel] = ry[sel] @ src @ rx[sel]
        flat = out.reshape(len(ix), -1)
        whole = np.flatnonzero([b == WHOLE[0] for b in boxes])  # (the whole view is area-averaged)
        if len(whole):
            flat[whole] = self.views(ix[whole], WHOLE, codes[whole], size)[:, 0]
        return flat


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
    x[flat] = 0.0  # (not the rounding noise of a flat row, scaled up)
    return x, flat


def _rmse(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.float32], uncut: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float32]:
    """RMS difference of rows ``[n, 3·size²]`` after ``y`` is tone-matched to ``x`` — and, for rows of two
    ``uncut`` views where one clips far more than the other (:data:`CLIPS_MORE`), also ``x`` onto ``y``, the
    closer counting. (A brightened copy that clips panels to white, reduced to 12×12, is no longer its
    original times a gain — text on white is a mix of the two whatever the edit — and the fit onto it comes
    out far from the edit: 0.067–0.12 for screenshots brightened by 12%, 0.035–0.048 the other way. Not
    for a cut view: on shapes on white the closer of two fits let a crop through whose edge cuts a large
    square down to the small one of another picture.)"""
    import numpy as np

    xs, ys = x.reshape(len(x), 3, -1), y.reshape(len(y), 3, -1)
    out = np.square(xs - match_tone(xs, ys)).mean((1, 2))
    at_end = [((v <= CLIPPED) | (v >= 1 - CLIPPED)).mean((1, 2)) for v in (xs, ys)]
    clips = np.flatnonzero((np.abs(at_end[0] - at_end[1]) >= CLIPS_MORE) & uncut)
    if len(clips):
        back = np.square(ys[clips] - match_tone(ys[clips], xs[clips])).mean((1, 2))
        out[clips] = np.minimum(out[clips], back)
    root: npt.NDArray[np.float32] = np.sqrt(out)
    return root


#: One side of a pair has this share of its values more at black or white than the other: it clips.
CLIPS_MORE = 0.05


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

    def match(self, i: int) -> Match:
        """Row ``i`` as a :class:`Match` (its box an index into the boxes searched)."""
        return Match(
            ncc=min(1.0, float(self.ncc[i])),
            rmse=float(self.rmse[i]),
            orientation=ALL[int(self.rows[i, 2])],
            cropped=("", "a", "b")[int(self.cut[i])],
            box=int(self.box[i]),
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


def verify_boxes(
    thumbs: Thumbnails,
    pairs: Sequence[tuple[int, int, int]],
    boxes: Sequence[Box],
    cut_a: Sequence[bool],
    *,
    size: int = VERIFY,
) -> list[Match]:
    """Each pair ``(a, b, code)`` of views at one alignment of its own: ``a`` cut to ``boxes[i]`` against
    ``b`` whole (``cut_a[i]``), or ``a`` whole against ``b`` (in orientation ``ALL[code]``) cut to it — any
    box, not only those of :data:`CROP_BOXES` (``Match.exact`` holds it)."""
    import numpy as np

    if not len(pairs):
        return []
    rows = np.asarray(pairs, dtype=np.intp).reshape(-1, 3)
    a, b, code = rows[:, 0], rows[:, 1], rows[:, 2]
    x, y = thumbs.views(a, WHOLE, None, size)[:, 0], thumbs.views(b, WHOLE, code, size)[:, 0]
    ca, cb = np.flatnonzero(np.asarray(cut_a, bool)), np.flatnonzero(~np.asarray(cut_a, bool))
    x[ca] = thumbs.each_box(a[ca], [boxes[i] for i in ca.tolist()], None, size)
    y[cb] = thumbs.each_box(b[cb], [boxes[i] for i in cb.tolist()], code[cb], size)
    rmse = _rmse(x, y, np.zeros(len(rows), bool))
    (ux, x_flat), (uy, y_flat) = _unit(x), _unit(y)
    ncc = np.where(x_flat & y_flat, 1.0, np.einsum("pd,pd->p", ux, uy))
    return [
        Match(
            min(1.0, float(ncc[i])), float(rmse[i]), ALL[int(code[i])], "a" if cut_a[i] else "b", 0, boxes[i]
        )
        for i in range(len(rows))
    ]


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
    rows = np.arange(n)
    best = np.full(n, -np.inf, np.float32)
    box = np.zeros(n, np.intp)
    cut_a = np.ones(n, bool)
    for crop_a in sides:
        ncc = _box_ncc(thumbs, pairs, boxes, crop_a, size)
        k = ncc.argmax(1) if n else np.zeros(0, np.intp)
        v = ncc[rows, k]
        better = v > best  # a tie goes to the side tried first
        best[better], box[better], cut_a[better] = v[better], k[better], crop_a
    out = Matches(
        np.minimum(best, 1.0),
        np.full(n, np.nan, np.float32),
        np.zeros(n, np.int8) if is_whole else np.where(cut_a, 1, 2).astype(np.int8),
        box,
        pairs,
    )
    need = np.flatnonzero(best >= rmse_from)
    # the RMSE at the best alignment: the cut side in its box, the other whole
    for lo in range(0, len(need), _RMSE_ROWS):
        at = need[lo : lo + _RMSE_ROWS]
        a, b, code = pairs[at, 0], pairs[at, 1], pairs[at, 2]
        x, y = thumbs.views(a, WHOLE, None, size)[:, 0], thumbs.views(b, WHOLE, code, size)[:, 0]
        if not is_whole:
            chosen = [boxes[j] for j in box[at]]
            ca, cb = np.flatnonzero(cut_a[at]), np.flatnonzero(~cut_a[at])
            x[ca] = thumbs.each_box(a[ca], [chosen[j] for j in ca], None, size)
            y[cb] = thumbs.each_box(b[cb], [chosen[j] for j in cb], code[cb], size)
        uncut = np.ones(len(at), bool) if is_whole else np.asarray([boxes[j] == WHOLE[0] for j in box[at]])
        out.rmse[at] = _rmse(x, y, uncut)
    return out


#: Pairs whose RMSE is measured at once.
_RMSE_ROWS = 4096


#: Sampled boxes of this many floats at most are held at once while correlating (8 MB).
_BLOCK_FLOATS = 1 << 21


def _box_ncc(
    thumbs: Thumbnails, pairs: npt.NDArray[np.intp], boxes: Sequence[Box], crop_a: bool, size: int
) -> npt.NDArray[np.float32]:
    """``[n, len(boxes)]``: the NCC of each pair ``(a, b, code)`` with one side (``a`` if ``crop_a``, else
    ``b`` in orientation ``o = ALL[code]``) cut to each box and the other side whole.

    Views are sampled as they are, each once per list of boxes: box ``B`` of a turned picture ``o(b)`` is
    ``o`` applied to box ``o⁻¹(B)`` of ``b``, and turning both sides back by ``o⁻¹`` (a permutation of the
    grid, which keeps the NCC) compares ``b``'s box ``o⁻¹(B)`` with ``a`` turned by ``o⁻¹``. For a list
    that every orientation maps onto itself (the whole view, :data:`SPARSE_BOXES`) ``o⁻¹(B)`` is another
    box of the list, so ``b`` is sampled once for all orientations."""
    import numpy as np

    a, b, codes = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    if len(boxes) == 1 and boxes[0] == WHOLE[0]:
        return _whole_ncc(thumbs, a, b, codes, size)[:, None]
    if crop_a:
        return _view_ncc(thumbs, a, b, codes, boxes, size)
    inverse = np.asarray([o.inverse.code for o in ALL])
    sigma = _turned_boxes(tuple(boxes))
    if sigma is not None:
        out = _view_ncc(thumbs, b, a, inverse[codes], boxes, size)
        for code in np.unique(codes).tolist():
            sel = np.flatnonzero(codes == code)
            out[sel] = out[sel][:, sigma[code]]
        return out
    out = np.empty((len(pairs), len(boxes)), np.float32)
    for code in np.unique(codes).tolist():
        sel = np.flatnonzero(codes == code)
        turned = [ALL[code].inverse.apply_box(box) for box in boxes]
        out[sel] = _view_ncc(thumbs, b[sel], a[sel], inverse[codes[sel]], turned, size)
    return out


def _whole_ncc(
    thumbs: Thumbnails,
    a: npt.NDArray[np.intp],
    b: npt.NDArray[np.intp],
    codes: npt.NDArray[np.intp],
    size: int,
) -> npt.NDArray[np.float32]:
    """The NCC of views ``a`` and ``b`` whole, ``b`` in orientation ``ALL[codes]``."""
    import numpy as np

    whole = thumbs.whole(size)
    out = np.empty(len(a), np.float32)
    step = max(1, _BLOCK_FLOATS // (4 * whole.shape[1]))
    for lo in range(0, len(a), step):
        sl = slice(lo, lo + step)
        x, x_flat = _unit(whole[a[sl]])
        y, y_flat = _unit(_turned(whole[b[sl]], codes[sl], size))
        out[sl] = np.where(x_flat & y_flat, 1.0, np.einsum("pd,pd->p", x, y))
    return out


def _turned(rows: npt.NDArray[np.float32], codes: npt.NDArray[np.intp], size: int) -> npt.NDArray[np.float32]:
    """Thumbnail rows ``[n, 3·size²]``, each put in orientation ``ALL[codes[i]]`` (in place)."""
    import numpy as np

    for code in np.unique(codes).tolist():
        if code:
            at = np.flatnonzero(codes == code)
            rows[at] = rows[at][:, _perm(code, size)]
    return rows


def _view_ncc(
    thumbs: Thumbnails,
    cut: npt.NDArray[np.intp],
    other: npt.NDArray[np.intp],
    turn: npt.NDArray[np.intp],
    boxes: Sequence[Box],
    size: int,
) -> npt.NDArray[np.float32]:
    """``[n, len(boxes)]``: the NCC of each box of view ``cut[i]`` (as it is) with view ``other[i]`` whole,
    in orientation ``ALL[turn[i]]``. Each view is sampled once, and the pairs of a view are correlated
    with its boxes in one matrix product (views with the same number of pairs at once): no box is copied
    per pair."""
    import numpy as np

    k = len(boxes)
    out = np.empty((len(cut), k), np.float32)
    whole = thumbs.whole(size)
    order = np.argsort(cut, kind="stable")
    views, first, counts = np.unique(cut[order], return_index=True, return_counts=True)
    block = max(1, _BLOCK_FLOATS // (k * whole.shape[1]))
    for lo in range(0, len(views), block):
        hi = min(len(views), lo + block)
        unit, flat = _unit(thumbs.views(views[lo:hi], boxes, None, size))  # views × boxes × D
        rows = order[first[lo] : first[hi - 1] + counts[hi - 1]]  # this block's pairs, by view
        o_unit, o_flat = _unit(_turned(whole[other[rows]], turn[rows], size))
        res = np.empty((len(rows), k), np.float32)
        starts, n_rows = first[lo:hi] - first[lo], counts[lo:hi]
        for c in np.unique(n_rows).tolist():
            vs = np.flatnonzero(n_rows == c)
            at = starts[vs, None] + np.arange(c)  # the c pairs of each of these views
            res[at] = np.matmul(unit[vs], o_unit[at].transpose(0, 2, 1)).transpose(0, 2, 1)
        # flat on both sides: no structure to differ, so only the RMSE (brightness) decides
        out[rows] = np.where(flat[np.repeat(np.arange(hi - lo), n_rows)] & o_flat[:, None], 1.0, res)
    return out


@cache
def _turned_boxes(boxes: tuple[Box, ...]) -> npt.NDArray[np.intp] | None:
    """``[8, len(boxes)]``: for each orientation ``o``, the index of the box ``o⁻¹(boxes[j])`` (where box
    ``j`` of a turned picture lies in the picture as it is); ``None`` when some turned box is not in the
    list."""
    import numpy as np

    where = {tuple(round(v, 4) for v in b): j for j, b in enumerate(boxes)}
    table = np.zeros((len(ALL), len(boxes)), np.intp)
    for o in ALL:
        for j, b in enumerate(boxes):
            found = where.get(tuple(round(v, 4) for v in o.inverse.apply_box(b)))
            if found is None:
                return None
            table[o.code, j] = found
    return table


@cache
def _perm(code: int, size: int) -> npt.NDArray[np.intp]:
    """Indices that put a flattened ``3×size×size`` thumbnail row in orientation ``ALL[code]``:
    ``row[_perm(code, size)]``."""
    import numpy as np

    grid = np.arange(3 * size * size).reshape(1, 3, size, size).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(oriented(grid, ALL[code]).transpose(0, 3, 1, 2)).reshape(-1)
