"""The coarse stage: candidate pairs from tiny thumbnails, and their alignment at 12×12.

Every image keeps a 32×32 RGB thumbnail (the whole image squashed to a square, 3 KB). From it:

* **candidates** — each image's nearest images by normalized cross-correlation (NCC) of 8×8 thumbnails, the
  image itself and its mirror image as queries (exact inner-product search with FAISS);
* **the coarse check** — NCC and root-mean-square difference of 12×12 thumbnails at the best alignment: as
  is or mirrored, and one side cut to any of 22 boxes covering ≥ 88% of its area (the other side whole).
  It is cheap and lets every re-encode, resize, flip and crop through; the fine check
  (:mod:`lookalike.dedup.fine`) then decides where content differs.

NumPy only: area shrinking and box sampling are fixed linear maps (the same sampling as torchvision's
``roi_align`` with ``aligned=True`` and two samples per bin), applied as matrix products.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING

from lookalike.metrics import centred_unit_rows

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BASE = 32
CANDIDATE = 8
VERIFY = 12
# Two thumbnails whose pixels vary less than this (std, [0, 1] units) are flat: NCC is undefined for them, so
# flat pairs count as matching structure and only their RMSE decides.
FLAT_STD = 2 / 255
Box = tuple[float, float, float, float]


def _crop_boxes() -> list[Box]:
    """The whole image first, then boxes with sides in {1, 0.95, 0.9} covering ≥ 88% of the area, at the
    start, middle and end of each axis that is cut: 22 boxes as (x0, y0, x1, y1) fractions."""
    boxes = [(0.0, 0.0, 1.0, 1.0)]
    sides = (1.0, 0.95, 0.9)
    for w, h in itertools.product(sides, sides):
        if (w, h) == (1.0, 1.0) or w * h < 0.88 - 1e-9:
            continue
        xs = (0.0,) if w == 1.0 else (0.0, (1 - w) / 2, 1 - w)
        ys = (0.0,) if h == 1.0 else (0.0, (1 - h) / 2, 1 - h)
        boxes += [(x, y, x + w, y + h) for x in xs for y in ys]
    return boxes


CROP_BOXES = _crop_boxes()
WHOLE = [CROP_BOXES[0]]


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
    """The best coarse alignment of a pair (a, b): NCC, RMSE, whether b was mirrored, which side was cut
    ("", "a" or "b") and to which box of :data:`CROP_BOXES` (0 = the whole image)."""

    ncc: float
    rmse: float
    flipped: bool
    cropped: str
    box: int

    def passes(self, min_ncc: float, max_rmse: float) -> bool:
        return self.ncc >= min_ncc and self.rmse <= max_rmse


@dataclass
class Thumbnails:
    """The BASE×BASE RGB thumbnails of every image (uint8 N×BASE×BASE×3), read as [0, 1] floats."""

    base: npt.NDArray[np.uint8]

    @classmethod
    def stack(cls, thumbs: Sequence[npt.NDArray[np.uint8]]) -> Thumbnails:
        import numpy as np

        return cls(np.stack(thumbs) if thumbs else np.zeros((0, BASE, BASE, 3), np.uint8))

    def floats(self, ix: npt.NDArray[np.intp] | slice = slice(None)) -> npt.NDArray[np.float32]:
        """N×3×BASE×BASE floats in [0, 1]."""
        import numpy as np

        out: npt.NDArray[np.float32] = np.ascontiguousarray(
            self.base[ix].transpose(0, 3, 1, 2), dtype=np.float32
        ) / np.float32(255)
        return out

    def shrunk(self, size: int) -> npt.NDArray[np.float32]:
        """N×(3·size²): every whole image area-averaged to size×size, 4096 images at a time."""
        import numpy as np

        m = _area(BASE, size)
        parts = [m @ self.floats(slice(i, i + 4096)) @ m.T for i in range(0, len(self.base), 4096)]
        if not parts:
            return np.zeros((0, 3 * size * size), np.float32)
        out: npt.NDArray[np.float32] = np.concatenate(parts).reshape(len(self.base), -1)
        return out

    @cached_property
    def whole(self) -> npt.NDArray[np.float32]:
        """N×(3·VERIFY²): each whole image at the verification size."""
        return self.shrunk(VERIFY)

    @cached_property
    def candidate_rows(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Unit-length centred 8×8 thumbnails of each image and of its mirror image."""
        small = self.shrunk(CANDIDATE)
        mirrored = small.reshape(-1, 3, CANDIDATE, CANDIDATE)[..., ::-1].reshape(len(small), -1)
        return centred_unit_rows(small), centred_unit_rows(mirrored)

    def views(self, ix: npt.NDArray[np.intp], boxes: Sequence[Box]) -> npt.NDArray[np.float32]:
        """len(ix)×len(boxes)×(3·VERIFY²): each box of each image resampled to VERIFY×VERIFY."""
        import numpy as np

        if len(boxes) == 1 and boxes[0] == WHOLE[0]:
            return self.whole[ix][:, None, :]
        ry = np.stack([_box_sampler(b[1], b[3]) for b in boxes])[None, :, None]  # 1×k×1×V×B
        rx = np.stack([_box_sampler(b[0], b[2]) for b in boxes])[None, :, None]
        out: npt.NDArray[np.float32] = ry @ self.floats(ix)[:, None] @ rx.transpose(0, 1, 2, 4, 3)
        return out.reshape(len(ix), len(boxes), -1)


def _mirror(views: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """n×boxes×(3·VERIFY²) views, each flipped left to right."""
    n, nb, d = views.shape
    return views.reshape(n, nb, 3, VERIFY, VERIFY)[..., ::-1].reshape(n, nb, d)


def verify(
    thumbs: Thumbnails,
    pairs: Sequence[tuple[int, int]],
    boxes: Sequence[Box],
    *,
    flips: bool = True,
    cut: str | None = None,
) -> list[Match]:
    """The best alignment of each pair (a, b): b as is or mirrored (``flips``), × a cut to each box against
    b whole, or a whole against b cut to each box (only the side ``cut``, "a" or "b", when given). Best =
    highest NCC; RMSE is taken there."""
    import numpy as np

    cut_a = {None: (True, False), "a": (True,), "b": (False,)}[cut]
    alignments = [(crop_a, mirror) for mirror in (False, True)[: 2 if flips else 1] for crop_a in cut_a]
    if len(boxes) == 1:  # whole against whole: cutting either side is the same comparison
        alignments = list(dict.fromkeys((True, mirror) for _, mirror in alignments))
    out: list[Match] = []
    chunk = max(256, (1 << 22) // (len(boxes) * 3 * VERIFY * VERIFY))  # gathers of ≤ 16 MB
    for start in range(0, len(pairs), chunk):
        part = np.asarray(pairs[start : start + chunk], dtype=np.intp).reshape(-1, 2)
        uniq, inv = np.unique(part.ravel(), return_inverse=True)
        a, b = inv.reshape(-1, 2).T
        raw = thumbs.views(uniq, boxes)  # n×boxes×D, each view of each image once
        unit, flat = centred_unit_rows(raw), raw.std(-1) < FLAT_STD
        sides = {False: (raw, unit), True: (_mirror(raw), _mirror(unit)) if flips else (raw, unit)}
        rows = np.arange(len(a))
        nccs, picks = [], []
        for crop_a, mirror in alignments:
            # the cut side (every box) against the other side whole
            x_unit, x_flat = (unit[a], flat[a]) if crop_a else (sides[mirror][1][b], flat[b])
            y_unit, y_flat = (sides[mirror][1][b, 0], flat[b, 0]) if crop_a else (unit[a, 0], flat[a, 0])
            ncc = np.einsum("pkd,pd->pk", x_unit, y_unit)
            # flat on both sides: no structure to differ, so only the RMSE (brightness) decides
            ncc = np.where(x_flat & y_flat[:, None], 1.0, ncc)
            picks.append(ncc.argmax(1))
            nccs.append(ncc[rows, picks[-1]])
        scores = np.stack(nccs, 1)
        which = scores.argmax(1)
        box = np.stack(picks, 1)[rows, which]
        x = np.empty((len(a), raw.shape[-1]), np.float32)
        y = np.empty_like(x)
        for w, (crop_a, mirror) in enumerate(alignments):
            sel = which == w
            if not sel.any():
                continue
            b_raw = sides[mirror][0]
            ia, ib, kb = a[sel], b[sel], box[sel]
            x[sel] = raw[ia, kb] if crop_a else b_raw[ib, kb]
            y[sel] = b_raw[ib, 0] if crop_a else raw[ia, 0]
        rmse = np.sqrt(np.square(x - y).mean(1))
        for p, w in enumerate(which.tolist()):
            crop_a, mirror = alignments[w]
            k = int(box[p])
            out.append(
                Match(
                    ncc=min(1.0, float(scores[p, w])),
                    rmse=float(rmse[p]),
                    flipped=mirror,
                    cropped=("a" if crop_a else "b") if k else "",
                    box=k,
                )
            )
    return out


def knn_pairs(
    queries: Sequence[npt.NDArray[np.float32]], base: npt.NDArray[np.float32], k: int
) -> set[tuple[int, int]]:
    """Pairs (i, j), i < j, where j is among the k nearest rows of ``base`` (inner product) to row i of any
    query matrix; exact search with FAISS."""
    import faiss
    import numpy as np

    n = base.shape[0]
    k = min(k + 1, n)  # + the image itself
    if n < 2 or k < 2:
        return set()
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    pairs: set[tuple[int, int]] = set()
    for q in queries:
        _, nn = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
        for i, row in enumerate(nn.tolist()):
            for j in row:
                if j >= 0 and j != i:
                    pairs.add((i, j) if i < j else (j, i))
    return pairs
