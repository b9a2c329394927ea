"""Search structures: nearest neighbours among unit vectors, exact or approximate.

:func:`build` makes the FAISS index a :class:`~lookalike.collection.plan.Plan` names (which one fits a
collection by size and memory is :func:`~lookalike.collection.plan.choose_structure`'s, in
:mod:`lookalike.collection.plan`, whose names this module still gives) from a :class:`VectorSource` and
tunes its search parameter to a target recall, and :class:`Structure` searches, grows and saves it. The
collection store (:mod:`lookalike.collection`) and ``benchmarks/search.py`` call the same functions, so the
benchmark measures what ``lookalike search`` runs.

The number of lists probed (``nprobe``) is tuned at build time: the smallest that reaches recall@10 ≥
:data:`TUNE_RECALL` against exact search for 256 vectors of the collection (each query's own vector left
out).

All structures hold L2-normalised vectors: scores are cosine similarities in [−1, 1].

>>> import numpy as np
>>> vectors = np.random.default_rng(0).standard_normal((1000, 64)).astype("float32")
>>> source = ArraySource(vectors)
>>> s = build(choose_structure(len(source), source.dim), source)
>>> s.plan.kind
'flat'
>>> scores, ids = s.search(unit(vectors[:1]), 3)
>>> int(ids[0, 0])
0
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from lookalike.collection.plan import (
    _QUERY_BLOCK_BYTES,
    _TRAIN_PER_LIST,
    _TUNE_QUERIES,
    FLAT_MAX,
    Plan,
    choose_structure,
    chunk_rows,
    default_memory_budget,
    memory_estimate,
)
from lookalike.collection.plan import MEMORY_ENV as MEMORY_ENV
from lookalike.collection.plan import ivf_lists as ivf_lists
from lookalike.collection.plan import parse_bytes as parse_bytes
from lookalike.files import fsync_path

if TYPE_CHECKING:
    import faiss

__all__ = [
    "FLAT_MAX",
    "TUNE_RECALL",
    "ArraySource",
    "Plan",
    "Structure",
    "VectorSource",
    "build",
    "choose_structure",
    "default_memory_budget",
    "exact_search",
    "memory_estimate",
    "unit",
]

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]

#: The recall@10 that :func:`build` tunes an approximate structure to reach on the collection itself.
TUNE_RECALL = 0.97

_TUNE_K = 10
_KMEANS_ITERATIONS = 10
# Approximate structures of these kinds fetch this many times k candidates and re-rank them exactly.
_RERANK = {"ivf-pq": 10}


def unit(vectors: npt.ArrayLike, *, copy: bool = True) -> FloatArray:
    """Rows scaled to length 1 as float32 (an all-zero row stays zero: similarity 0 with everything).

    ``copy=False`` scales a float32 array in place when it can.
    """
    x = np.array(vectors, dtype=np.float32, copy=copy or None, ndmin=2)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


# ----------------------------------------------------------------------------------------------------------
# Vector sources


class VectorSource(Protocol):
    """Raw (not normalised) vectors with int64 ids, read in chunks: what a structure is built from."""

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def chunks(self, rows: int) -> Iterator[tuple[IdArray, FloatArray]]:
        """``(ids, vectors)`` of at most ``rows`` rows at a time, every vector once."""
        ...

    def sample(self, count: int, *, seed: int = 0) -> tuple[IdArray, FloatArray]:
        """``count`` vectors (or all, if fewer) drawn at random without replacement."""
        ...

    def get(self, ids: IdArray) -> FloatArray:
        """The vectors with these ids, in that order."""
        ...


class ArraySource:
    """A :class:`VectorSource` over an in-memory (or memory-mapped) array; ids default to row numbers.

    >>> ArraySource(np.zeros((3, 4), dtype="float32")).dim
    4
    """

    def __init__(self, vectors: npt.NDArray[Any], ids: npt.ArrayLike | None = None) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be an N×D array, got shape {vectors.shape}")
        self.vectors = vectors
        self._rows_are_ids = ids is None
        self.ids = np.arange(len(vectors), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        if len(self.ids) != len(vectors):
            raise ValueError(f"{len(self.ids)} ids for {len(vectors)} vectors")
        self._pos: dict[int, int] | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.vectors)

    def chunks(self, rows: int) -> Iterator[tuple[IdArray, FloatArray]]:
        for start in range(0, len(self.vectors), rows):
            yield (
                self.ids[start : start + rows],
                np.ascontiguousarray(self.vectors[start : start + rows], dtype=np.float32),
            )

    def sample(self, count: int, *, seed: int = 0) -> tuple[IdArray, FloatArray]:
        rows = np.sort(np.random.default_rng(seed).permutation(len(self))[:count])
        return self.ids[rows], np.asarray(self.vectors[rows], dtype=np.float32)

    def get(self, ids: IdArray) -> FloatArray:
        if self._rows_are_ids:
            return np.asarray(self.vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32)
        if self._pos is None:
            self._pos = {int(i): r for r, i in enumerate(self.ids)}
        rows = np.fromiter((self._pos[int(i)] for i in ids), dtype=np.int64, count=len(ids))
        return np.asarray(self.vectors[rows], dtype=np.float32)


def exact_search(source: VectorSource, queries: FloatArray, k: int) -> tuple[FloatArray, IdArray]:
    """Exact top-``k`` by cosine similarity for unit ``queries``, streaming ``source`` chunk by chunk.

    Memory stays at one chunk (normalised) plus the scores of a block of queries against it (about
    16 MiB) and ``len(queries) × k``; missing results (``k`` > size) have id −1.
    """
    nq = len(queries)
    best_s = np.full((nq, k), -np.inf, dtype=np.float32)
    best_i = np.full((nq, k), -1, dtype=np.int64)
    for ids, vectors in source.chunks(chunk_rows(source.dim)):
        v = unit(vectors)
        del vectors  # the chunk as read, normalised: one copy of it is enough
        step = max(1, _QUERY_BLOCK_BYTES // (4 * max(1, len(v))))
        for q0 in range(0, nq, step):
            rows = slice(q0, q0 + step)
            scores = queries[rows] @ v.T
            s = np.concatenate([best_s[rows], scores], axis=1)
            i = np.concatenate([best_i[rows], np.broadcast_to(ids, scores.shape)], axis=1)
            top = np.argpartition(-s, k - 1, axis=1)[:, :k] if s.shape[1] > k else np.argsort(-s, axis=1)
            best_s[rows] = np.take_along_axis(s, top, axis=1)
            best_i[rows] = np.take_along_axis(i, top, axis=1)
            del scores, s, i, top
        del v  # before the next chunk is read
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_s, order, axis=1), np.take_along_axis(best_i, order, axis=1)


# ----------------------------------------------------------------------------------------------------------
# The structure


class Structure:
    """A FAISS index over unit vectors with int64 ids, its :class:`Plan` and its tuned ``nprobe``.

    Flat indexes compute inner products; IVF indexes compute squared L2 distances d² between unit
    vectors, reported as cosine similarity 1 − d²/2 (same order). IVF-PQ results are re-ranked exactly
    with ``refine`` (raw vectors by id), which the owner sets.
    """

    def __init__(
        self,
        plan: Plan,
        index: faiss.Index,
        *,
        nprobe: int | None = None,
        recall: float | None = None,
        refine: Callable[[IdArray], FloatArray] | None = None,
        built_at: float | None = None,
        build_seconds: float | None = None,
    ) -> None:
        self.plan, self.index, self.refine = plan, index, refine
        self.recall, self.built_at, self.build_seconds = recall, built_at or time.time(), build_seconds
        self.nprobe: int | None = None
        if nprobe is not None:
            self.set_nprobe(nprobe)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def set_nprobe(self, nprobe: int) -> None:
        import faiss

        if self.plan.nlist is None:
            return
        self.nprobe = int(min(max(1, nprobe), self.plan.nlist))
        faiss.extract_index_ivf(self.index).nprobe = self.nprobe

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add raw vectors (normalised here) under ``ids``."""
        x = unit(vectors)
        if len(x):
            self.index.add_with_ids(x, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove vectors by id (absent ids are ignored); returns how many went."""
        import faiss

        batch = np.ascontiguousarray(ids, dtype=np.int64)
        return int(self.index.remove_ids(faiss.IDSelectorBatch(len(batch), faiss.swig_ptr(batch))))

    def search(self, queries: npt.ArrayLike, k: int) -> tuple[FloatArray, IdArray]:
        """Top-``k`` ``(cosine scores, ids)`` for unit ``queries``, best first; id −1 past the end.

        IVF-PQ structures with ``refine`` fetch more candidates and re-rank them with exact scores.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.plan.dim)
        factor = _RERANK.get(self.plan.kind, 0) if self.refine is not None else 0
        scores, ids = self.index.search(q, max(1, k * max(1, factor)))
        if self.plan.kind != "flat":
            scores = 1.0 - scores / 2.0
            if factor:
                scores, ids = self._rerank(q, ids)
        scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
        return scores[:, :k], ids[:, :k]

    def _rerank(self, q: FloatArray, ids: IdArray) -> tuple[FloatArray, IdArray]:
        """Exact cosine scores for the candidates ``ids`` of each query, best first."""
        assert self.refine is not None
        scores = np.full(ids.shape, -np.inf, dtype=np.float32)
        step = max(1, (16 << 20) // (4 * self.plan.dim * ids.shape[1]))  # about 16 MiB of vectors at a time
        for start in range(0, len(q), step):
            block = ids[start : start + step]
            valid = block >= 0
            wanted, where = np.unique(block[valid], return_inverse=True)
            if not len(wanted):
                continue
            vectors = unit(self.refine(wanted))
            rows = np.nonzero(valid)[0]
            part = np.full(block.shape, -np.inf, dtype=np.float32)
            part[valid] = np.einsum("ij,ij->i", vectors[where], q[start + rows])
            scores[start : start + step] = part
        order = np.argsort(-scores, axis=1, kind="stable")
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)

    def describe(self) -> dict[str, Any]:
        """What ``lookalike info`` shows: kind, factory, parameters, size, tuned recall."""
        return {
            **self.plan.to_dict(),
            "ntotal": self.ntotal,
            "nprobe": self.nprobe,
            "tuned_recall_at_10": self.recall,
            "built_at": self.built_at,
            "build_seconds": self.build_seconds,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the FAISS index to ``path`` via a temporary file, fsynced and renamed into place."""
        import faiss

        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        fsync_path(tmp)
        tmp.replace(target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], meta: dict[str, Any]) -> Structure:
        """Read a structure written by :meth:`save`; ``meta`` is :meth:`describe`'s dict."""
        import faiss

        plan = Plan.from_dict(meta)
        if plan.kind != "ivf-pq":
            index = faiss.read_index(str(path))
        else:  # faiss would make the precomputed table whenever it is under 2 GiB: the plan decides
            index = faiss.read_index(str(path), faiss.IO_FLAG_SKIP_PRECOMPUTE_TABLE)
            _set_precomputed_table(index, plan.precomputed_table)
        return cls(
            plan,
            index,
            nprobe=meta.get("nprobe"),
            recall=meta.get("tuned_recall_at_10"),
            built_at=meta.get("built_at"),
            build_seconds=meta.get("build_seconds"),
        )


def new_index(plan: Plan) -> faiss.Index:
    """An empty FAISS index for ``plan`` (untrained for IVF)."""
    import faiss

    if plan.kind == "flat":
        return faiss.index_factory(plan.dim, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT)
    index = faiss.index_factory(plan.dim, plan.factory, faiss.METRIC_L2)
    ivf: Any = faiss.downcast_index(faiss.extract_index_ivf(index))
    ivf.cp.niter = _KMEANS_ITERATIONS
    # build() passes the training sample itself: keep faiss from printing advice about its size
    ivf.cp.min_points_per_centroid = 1
    ivf.cp.max_points_per_centroid = 1 << 30
    if plan.kind == "ivf-pq":
        ivf.pq.cp.min_points_per_centroid = 1
        ivf.do_polysemous_training = False  # minutes of annealing for Hamming filtering we do not use
        # 1: the table is made at training (whatever faiss's own 2 GiB cap says); -1: never
        ivf.use_precomputed_table = 1 if plan.precomputed_table else -1
    return index


def _set_precomputed_table(index: faiss.Index, keep: bool) -> None:
    """Make (``keep``) or drop the IVF-PQ precomputed table of a trained ``index``."""
    import faiss

    ivf: Any = faiss.downcast_index(faiss.extract_index_ivf(index))
    ivf.use_precomputed_table = 1 if keep else -1
    ivf.precompute_table()


def build(
    plan: Plan,
    source: VectorSource,
    *,
    target_recall: float = TUNE_RECALL,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> Structure:
    """Make ``plan``'s structure from every vector of ``source`` and tune ``nprobe`` to ``target_recall``.

    IVF structures train k-means on ``40 × nlist`` sampled vectors first. ``progress(done, total)`` is
    called as vectors are added. Memory: the structure plus one chunk of about 64 MiB.
    """
    start = time.perf_counter()
    if source.dim != plan.dim:
        raise ValueError(f"plan is for {plan.dim}-d vectors, the source has {source.dim}-d")
    index = new_index(plan)
    if plan.nlist is not None:
        _, sample = source.sample(min(len(source), _TRAIN_PER_LIST * plan.nlist), seed=seed)
        if len(sample) < plan.nlist:
            raise ValueError(f"{len(sample)} vectors cannot train {plan.nlist} inverted lists")
        index.train(unit(sample, copy=False))
        del sample
    structure = Structure(plan, index, refine=source.get)
    total, done = len(source), 0
    for ids, vectors in source.chunks(chunk_rows(plan.dim)):
        structure.add(ids, vectors)
        done += len(ids)
        if progress:
            progress(done, total)
    if plan.nlist is not None:
        tune(structure, source, target_recall=target_recall, seed=seed)
    structure.build_seconds = time.perf_counter() - start
    return structure


def recall_at(found: IdArray, truth: IdArray, k: int, exclude: IdArray | None = None) -> float:
    """Mean fraction of each row's true top-``k`` ids that ``found``'s top-``k`` holds; ``exclude`` gives
    an id per row left out of both (the query's own vector)."""
    hits = total = 0
    for row in range(len(truth)):
        skip = -1 if exclude is None else int(exclude[row])
        t = [int(i) for i in truth[row] if i >= 0 and i != skip][:k]
        f = [int(i) for i in found[row] if i >= 0 and i != skip][:k]
        hits += len(set(t) & set(f))
        total += len(t)
    return hits / total if total else 1.0


def tune(
    structure: Structure,
    source: VectorSource,
    *,
    target_recall: float = TUNE_RECALL,
    queries: int = _TUNE_QUERIES,
    k: int = _TUNE_K,
    seed: int = 0,
) -> float:
    """Set the smallest ``nprobe`` whose recall@``k`` reaches ``target_recall`` on ``queries`` vectors of
    ``source`` (each query's own id left out); returns the recall reached."""
    nlist = structure.plan.nlist
    if nlist is None:
        structure.recall = 1.0
        return 1.0
    qids, qvec = source.sample(queries, seed=seed + 1)
    q = unit(qvec)
    _, truth = exact_search(source, q, k + 1)

    def recall(nprobe: int) -> float:
        structure.set_nprobe(nprobe)
        _, found = structure.search(q, k + 1)
        return recall_at(found, truth, k, exclude=qids)

    measured: dict[int, float] = {}
    lo, hi = 0, 1
    while True:
        measured[hi] = recall(hi)
        if measured[hi] >= target_recall or hi >= nlist:
            break
        lo, hi = hi, min(2 * hi, nlist)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        measured[mid] = recall(mid)
        lo, hi = (lo, mid) if measured[mid] >= target_recall else (mid, hi)
    structure.set_nprobe(hi)
    structure.recall = measured[hi]
    return measured[hi]
