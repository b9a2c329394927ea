"""Candidate pairs: which views might show the same picture, in which orientation.

Each view (:mod:`~lookalike.dedup.coarse`) is shrunk to 8×8 RGB, put in its canonical orientation
(:func:`lookalike.dedup.orientation.canonical`: copies however turned or mirrored share it) and centred per
channel to unit length, so that the inner product of two rows is their normalized cross-correlation, blind
to brightness, contrast and slight colour casts. Every view is stored once, in its canonical orientation;
queries are every view in each of its plausible orientations, and the middle :data:`CROP_QUERY` of each
whole image (a crop of ``a`` then meets ``a``'s own middle). The nearest stored rows of each query (exact
inner-product search with FAISS) become candidate pairs, with the orientation that turns one into the
other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lookalike.dedup.coarse import BASE, Thumbnails, _box_sampler
from lookalike.dedup.orientation import ALL, canonical, oriented

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

CANDIDATE = 8
#: The middle crop of every whole image that also searches (each side kept at this fraction): between the
#: 5%-each-side crop and a crop keeping 75% of the area.
CROP_QUERY = 0.88
#: Rows searched at once (the FAISS distance block is queries × stored rows).
QUERY_BLOCK = 16384
#: Neighbours scoring within this of the k-th nearest count too (up to :data:`TIES` × k of them): at 8×8
#: the pages of one template, or the receipts of one shop, tie, and a copy's own original must not lose
#: its place among them by chance.
TIE = 0.01
TIES = 4


@dataclass
class Candidates:
    """Candidate pairs of views ``a < b``: ``code`` is the orientation (index into ``ALL``) that turns ``b``
    to look like ``a``, ``score`` the best 8×8 correlation that proposed it."""

    a: npt.NDArray[np.intp]
    b: npt.NDArray[np.intp]
    code: npt.NDArray[np.intp]
    score: npt.NDArray[np.float32]
    # the best place the pair took among a query's neighbours: how many scored clearly (TIE) higher
    rank: npt.NDArray[np.intp] | None = None

    def __len__(self) -> int:
        return len(self.a)


def _rows(small: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``[n, s, s, 3]`` → ``[n, 3·s²]``: centred per channel, unit length (zero for a flat picture)."""
    import numpy as np

    x = small.reshape(len(small), -1, 3)
    x = x - x.mean(1, keepdims=True)
    flat = x.reshape(len(x), -1)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = np.where(norm > 1e-4, flat / np.maximum(norm, 1e-12), 0.0).astype(
        np.float32
    )
    return out


def _middle(base: npt.NDArray[np.uint8], side: float) -> npt.NDArray[np.float32]:
    """``[n, CANDIDATE, CANDIDATE, 3]``: the middle ``side`` of each thumbnail, resampled."""
    import numpy as np

    lo = (1 - side) / 2
    m = _box_sampler(lo, 1 - lo, BASE, CANDIDATE)
    out: npt.NDArray[np.float32] = (m @ Thumbnails.as_floats(base) @ m.T).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out)


@dataclass
class _Queries:
    rows: npt.NDArray[np.float32]
    view: npt.NDArray[np.intp]
    code: npt.NDArray[np.intp]  # the orientation each query row is in


def _oriented_rows(
    small: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.intp], _Queries]:
    """Canonical orientation of each picture ``[n, s, s, 3]`` and query rows in every plausible (and
    ``allowed``) orientation of each."""
    import numpy as np

    best, plausible = canonical(small.mean(-1))
    rows, views, codes = [], [], []
    for code, o in enumerate(ALL):
        sel = np.flatnonzero(plausible[:, code] & allowed[code])
        if len(sel):
            rows.append(_rows(np.ascontiguousarray(oriented(small[sel], o))))
            views.append(sel)
            codes.append(np.full(len(sel), code, np.intp))
    return best, _Queries(np.concatenate(rows), np.concatenate(views), np.concatenate(codes))


def find(
    thumbs: Thumbnails,
    whole_views: npt.NDArray[np.intp],
    neighbours: int,
    *,
    orientations: Sequence[int] = tuple(range(8)),
    crops: bool = True,
    groups: npt.NDArray[np.intp] | None = None,
) -> Candidates:
    """Candidate pairs among the views of ``thumbs`` (see the module docstring). ``whole_views`` are the
    views that show a whole image (the middle crop queries come from them); ``orientations`` the codes of
    :data:`~lookalike.dedup.orientation.ALL` a copy may be in (e.g. ``(0,)``: as is only); ``groups``, when
    given, a group number per view: only pairs across groups count (new files against reference folders)."""
    import faiss
    import numpy as np

    n = len(thumbs.base)
    if n < 2:
        return _none()
    small = thumbs.shrunk(CANDIDATE).transpose(0, 2, 3, 1)
    allowed_codes = np.zeros(len(ALL), bool)
    allowed_codes[list(orientations)] = True
    # stored: every view in its canonical orientation; queries: every plausible orientation
    best, queries = _oriented_rows(small, np.ones(len(ALL), bool))
    stored = np.empty((n, small[0].size), np.float32)
    for code, o in enumerate(ALL):
        sel = np.flatnonzero(best == code)
        if len(sel):
            stored[sel] = _rows(np.ascontiguousarray(oriented(small[sel], o)))
    parts = [(queries, neighbours)]
    if crops and len(whole_views):
        middle = _middle(thumbs.base[whole_views], CROP_QUERY)
        _, crop_q = _oriented_rows(middle, np.ones(len(ALL), bool))
        crop_q.view = whole_views[crop_q.view]
        parts.append((crop_q, max(2, neighbours // 2)))
    index = faiss.IndexFlatIP(stored.shape[1])
    index.add(stored)
    found: list[
        tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]
    ] = []
    scores: list[npt.NDArray[np.float32]] = []
    for q, k in parts:
        k = min(k + 1, n)  # + the view itself
        wide = min(TIES * k, n)
        for start in range(0, len(q.rows), QUERY_BLOCK):
            sl = slice(start, start + QUERY_BLOCK)
            sim, nn = index.search(q.rows[sl], wide)
            # the k nearest, and those that tie with the k-th
            tied = sim >= (sim[:, k - 1 : k] - TIE)
            tied[:, :k] = True
            qv: npt.NDArray[np.intp] = np.repeat(q.view[sl], wide)
            qc: npt.NDArray[np.intp] = np.repeat(q.code[sl], wide)
            hit, s = nn.ravel(), sim.ravel()
            ok = (hit >= 0) & (hit != qv) & tied.ravel()
            # a neighbour's place: how many others (not the query's own view) score clearly higher
            others = np.where(nn == q.view[sl, None], -np.inf, sim)
            place: npt.NDArray[np.intp] = (others[:, :, None] > sim[:, None, :] + TIE).sum(1).ravel()[ok]
            qv, qc, hit, s = qv[ok], qc[ok], hit[ok], s[ok]
            # the query is view qv in orientation qc; the stored row is view hit in its canonical
            # orientation: turning hit by best[hit], then by qc's inverse, makes it look like qv
            turn = _then(best[hit], _inverse(qc))
            found.append((qv, hit, turn, place))
            scores.append(s.astype(np.float32))
    if not found:
        return _none()
    all_qv = np.concatenate([f[0] for f in found])
    all_hit = np.concatenate([f[1] for f in found])
    turns = np.concatenate([f[2] for f in found])
    all_place = np.concatenate([f[3] for f in found])
    score = np.concatenate(scores)
    # as pairs a < b: the orientation then turns b to look like a
    swap = all_qv > all_hit
    a, b = np.where(swap, all_hit, all_qv), np.where(swap, all_qv, all_hit)
    turns = np.where(swap, _inverse(turns), turns)
    keep = allowed_codes[turns]
    if groups is not None:
        keep &= groups[a] != groups[b]
    a, b, turns, score, place = a[keep], b[keep], turns[keep], score[keep], all_place[keep]
    # one row per (a, b, orientation): its best score and its best place
    order = np.lexsort((-score, turns, b, a))
    a, b, turns, score, place = a[order], b[order], turns[order], score[order], place[order]
    first = np.ones(len(a), bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1]) | (turns[1:] != turns[:-1])
    best_place = np.minimum.reduceat(place, np.flatnonzero(first)) if len(place) else place
    return Candidates(a[first], b[first], turns[first], score[first], best_place)


def _none() -> Candidates:
    import numpy as np

    empty = np.zeros(0, np.intp)
    return Candidates(empty, empty, empty, np.zeros(0, np.float32), empty)


def _then(x: npt.NDArray[np.intp], y: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Element-wise composition of orientation codes: ``x`` then ``y``."""
    import numpy as np

    table = np.asarray([[a.then(b).code for b in ALL] for a in ALL], np.intp)
    out: npt.NDArray[np.intp] = table[x, y]
    return out


def _inverse(x: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    import numpy as np

    table = np.asarray([o.inverse.code for o in ALL], np.intp)
    out: npt.NDArray[np.intp] = table[x]
    return out
