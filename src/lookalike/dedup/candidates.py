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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lookalike.dedup.coarse import BASE, Thumbnails, _box_sampler
from lookalike.dedup.orientation import ALL, canonical, oriented

if TYPE_CHECKING:
    import faiss
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
#: Exact search up to this many views; past it, an inverted file (:func:`_index`).
EXACT_UP_TO = 20_000
LIST_ROWS = 64
PROBES = 48


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
    out: npt.NDArray[np.float32] = (flat / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)
    out[norm[:, 0] <= 1e-4] = 0.0
    return out


def _middle(base: npt.NDArray[np.uint8], ix: npt.NDArray[np.intp], side: float) -> npt.NDArray[np.float32]:
    """``[len(ix), CANDIDATE, CANDIDATE, 3]``: the middle ``side`` of thumbnails ``ix``, resampled."""
    import numpy as np

    lo = (1 - side) / 2
    m = _box_sampler(lo, 1 - lo, BASE, CANDIDATE)
    out = np.empty((len(ix), CANDIDATE, CANDIDATE, 3), np.float32)
    for i in range(0, len(ix), 4096):  # floats of 4,096 thumbnails at a time (48 MB)
        part = Thumbnails.as_floats(base[ix[i : i + 4096]])
        out[i : i + 4096] = (m @ part @ m.T).transpose(0, 2, 3, 1)
    return out


@dataclass
class _Queries:
    rows: npt.NDArray[np.float32]
    view: npt.NDArray[np.intp]
    code: npt.NDArray[np.intp]  # the orientation each query row is in


def _oriented_rows(small: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.intp], _Queries]:
    """Canonical orientation of each picture ``[n, s, s, 3]`` and query rows in every plausible
    orientation of each."""
    import numpy as np

    best, plausible = canonical(small.mean(-1))
    views, codes = np.nonzero(plausible.T)[::-1]  # (orientation by orientation)
    rows = np.empty((len(views), small[0].size), np.float32)  # (filled in place: no second copy)
    at = 0
    for code, o in enumerate(ALL):
        sel = views[codes == code]
        if len(sel):
            rows[at : at + len(sel)] = _rows(np.ascontiguousarray(oriented(small[sel], o)))
            at += len(sel)
    return best, _Queries(rows, views.astype(np.intp), codes.astype(np.intp))


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
    import numpy as np

    n = len(thumbs.base)
    if n < 2:
        return _none()
    allowed_codes = np.zeros(len(ALL), bool)
    allowed_codes[list(orientations)] = True
    # stored: every view in its canonical orientation; queries: every plausible orientation
    # (the 8×8 views are kept: the coarse check's crop search looks at them again)
    small = thumbs.whole(CANDIDATE).reshape(n, 3, CANDIDATE, CANDIDATE).transpose(0, 2, 3, 1)
    best, _ = canonical(small.mean(-1))
    stored = np.empty((n, small[0].size), np.float32)
    for code, o in enumerate(ALL):
        sel = np.flatnonzero(best == code)
        if len(sel):
            stored[sel] = _rows(np.ascontiguousarray(oriented(small[sel], o)))
    index = _index(stored)
    del stored  # (small is a view of the kept 8×8 views: nothing to free)

    def parts() -> Iterator[tuple[_Queries, int]]:  # made one at a time, to hold one in memory
        yield _oriented_rows(small)[1], neighbours
        if crops and len(whole_views):
            crop_q = _oriented_rows(_middle(thumbs.base, whole_views, CROP_QUERY))[1]
            crop_q.view = whole_views[crop_q.view]
            yield crop_q, max(2, neighbours // 2)

    # per (a, b, orientation) as one key ((a·n + b)·8 + code, a < b): its scores and places
    keys: list[npt.NDArray[np.int64]] = []
    scores: list[npt.NDArray[np.float32]] = []
    places: list[npt.NDArray[np.int16]] = []
    for q, k in parts():
        k = min(k + 1, n)  # + the view itself
        wide = min(TIES * k, n)
        for start in range(0, len(q.rows), QUERY_BLOCK):
            sl = slice(start, start + QUERY_BLOCK)
            sim, nn = index.search(q.rows[sl], wide)
            # the k nearest, and those that tie with the k-th
            tied = sim >= (sim[:, k - 1 : k] - TIE)
            tied[:, :k] = True
            qv: npt.NDArray[np.intp] = np.repeat(q.view[sl], wide)
            hit = nn.ravel()
            ok = (hit >= 0) & (hit != qv) & tied.ravel()
            # a neighbour's place: how many others (not the query's own view) score clearly higher
            others = np.where(nn == q.view[sl, None], -np.inf, sim)
            place = (others[:, :, None] > sim[:, None, :] + TIE).sum(1).ravel()[ok]
            qv, hit = qv[ok], hit[ok]
            # the query is view qv in orientation qc; the stored row is view hit in its canonical
            # orientation: turning hit by best[hit], then by qc's inverse, makes it look like qv
            turn = _then(best[hit], _inverse(np.repeat(q.code[sl], wide)[ok]))
            # as pairs a < b: the orientation then turns b to look like a
            swap = qv > hit
            a, b = np.where(swap, hit, qv), np.where(swap, qv, hit)
            turn = np.where(swap, _inverse(turn), turn)
            keep = allowed_codes[turn]
            if groups is not None:
                keep &= groups[a] != groups[b]
            keys.append((a[keep].astype(np.int64) * n + b[keep]) * len(ALL) + turn[keep])
            scores.append(sim.ravel()[ok][keep].astype(np.float32))
            places.append(np.minimum(place[keep], np.iinfo(np.int16).max).astype(np.int16))
        del q  # (before the next part is made)
    del index
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    if not len(key):
        return _none()
    del keys
    score = np.concatenate(scores)
    del scores
    place = np.concatenate(places)
    del places
    # one row per (a, b, orientation): its best score and its best place (sorted one array at a time)
    order = np.lexsort((-score, key))
    key = key[order]
    score = score[order]
    place = place[order]
    del order
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    best_place = np.minimum.reduceat(place, first).astype(np.intp)
    key, score = key[first], score[first]
    pair_key, turn_out = np.divmod(key, len(ALL))
    a_out, b_out = np.divmod(pair_key, n)
    return Candidates(
        a_out.astype(np.intp), b_out.astype(np.intp), turn_out.astype(np.intp), score, best_place
    )


def _index(stored: npt.NDArray[np.float32]) -> faiss.Index:
    """An inner-product index of ``stored``: exact up to :data:`EXACT_UP_TO` rows; past that an inverted
    file (k-means lists of about :data:`LIST_ROWS` rows, :data:`PROBES` lists searched per query), whose
    cost grows with n·√n instead of n² — a copy correlates ≥ 0.9 with its original at 8×8, so the two
    fall in one list or in neighbouring ones."""
    import faiss

    n, d = stored.shape
    if n <= EXACT_UP_TO:
        flat = faiss.IndexFlatIP(d)
        flat.add(stored)
        return flat
    lists = max(1, round(n / LIST_ROWS))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed = 0  # the same lists on every run
    ivf.cp.niter = 10
    ivf.train(stored)
    ivf.add(stored)
    ivf.nprobe = min(lists, PROBES)
    return ivf


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
