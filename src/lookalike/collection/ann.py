"""Search structures: nearest neighbours among unit vectors, exact or approximate, chosen by size and memory.

:func:`choose_structure` picks a FAISS index for a collection, :func:`build` makes it from a
:class:`VectorSource` and tunes its search parameter to a target recall, and :class:`Structure` searches,
grows and saves it. The collection store (:mod:`lookalike.collection`) and ``benchmarks/search.py`` call the
same functions, so the benchmark measures what ``lookalike search`` runs.

The rule follows autofaiss's index selection (few vectors: exact; otherwise an inverted file whose list
count grows as 4·√n; quantised codes when the vectors do not fit the memory budget), adjusted by
measurements on a 2-core CPU with 1M clustered 512-d vectors (``benchmarks/search.py``):

* fewer than :data:`FLAT_MAX` (50,000) vectors — ``Flat``: exact inner product, no training, any update is
  a cheap rebuild;
* more, when float16 vectors fit the memory budget — ``IVF{nlist},SQfp16`` with ``nlist`` = 4·√n
  rounded to a power of two (256 … 65,536; 4096 for 1M): the probed lists hold the unit vectors as
  float16, which halves memory and memory traffic against ``IVF,Flat`` at the same recall (0.9722 vs
  0.9725 at nprobe 12, 1.5× the queries per second). Their scores are not re-ranked: the float16 codes
  hold each vector's residual from its list centre, so scores are exact to about 1e-4, and fetching 2·k
  candidates to re-score them exactly left recall@10 unchanged (0.9725 vs 0.9722) at 1.6× the time;
* otherwise ``IVF{nlist},PQ{m}`` with ``m`` bytes per vector, the largest that fits, its candidates
  re-ranked exactly from the vectors on disk. Without faiss's precomputed table (nlist × m × 256 floats,
  which faiss makes by itself up to 2 GiB: 1 GiB for ``IVF4096,PQ256``, four times its codes at 1M
  vectors): with it, search at 1M vectors was slower, not faster (PQ scores, batched: 149 against 307
  queries/s measured table first, 327 against 366 measured table second), as faiss's own note predicts
  for lists shorter than m × 256 entries — which 4·√n lists always are.
  A :class:`Plan` can still ask for it (``precomputed_table``), and the estimate then counts it.

"Fits" means the estimated peak of :func:`build` (:func:`memory_estimate`) is within the budget: the codes
and ids, the lists' unused capacity (they double as they grow: 1.44× on average), the centroids, the PQ
codebook and table, and the larger of training (the k-means sample and faiss's copies of it) and adding
(a chunk of vectors and faiss's scratch). ``benchmarks/search_memory.py`` checks it against the measured
peak RSS of builds (benchmarks/RESULTS.md, "Search structure memory plan").

The number of lists probed (``nprobe``) is tuned at build time: the smallest that reaches recall@10 ≥
:data:`TUNE_RECALL` against exact search for 256 vectors of the collection (each query's own vector left
out). autofaiss prefers HNSW whenever it fits in memory; here HNSW32 built 4× slower than IVF at 200k
vectors and needed efSearch 64 for recall 0.98 where IVF reached 0.998 at nprobe 8 faster, on clustered
data; it cannot delete vectors either, so lookalike does not use it. 8192 lists instead of 4096 at 1M
vectors gave lower recall at every speed and took 3× longer to build.

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

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from lookalike import units
from lookalike.errors import StoreError
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
Kind = Literal["flat", "ivf-sq", "ivf-pq"]

#: Below this many vectors, search is exact (``Flat``).
FLAT_MAX = 50_000
#: The recall@10 that :func:`build` tunes an approximate structure to reach on the collection itself.
TUNE_RECALL = 0.97
#: Environment variable: memory budget for a search structure in bytes (suffixes K, M, G allowed).
MEMORY_ENV = "LOOKALIKE_SEARCH_MEMORY"

_TUNE_QUERIES = 256
_TUNE_K = 10
_TRAIN_PER_LIST = 40  # k-means training points per inverted list (faiss asks for at least 39)
_KMEANS_ITERATIONS = 10
# Approximate structures of these kinds fetch this many times k candidates and re-rank them exactly.
_RERANK = {"ivf-pq": 10}
_CHUNK_BYTES = 64 << 20
_QUERY_BLOCK_BYTES = 16 << 20  # exact_search scores about this many bytes of a chunk at a time

# What the memory estimate (:func:`memory_estimate`) counts, from faiss 1.15's code:
#: Inverted lists (and ``Flat``'s vector array) grow one ``std::vector`` resize at a time, doubling their
#: capacity: after adding, a list of L entries holds the next power of two ≥ L, on average 1/ln 2 ≈ 1.44
#: times its entries when list sizes spread over octaves (measured: 1.4× at 1M vectors).
_LIST_GROWTH = 1 / math.log(2)
_KSUB = 256  # PQ centroids per sub-quantiser (8-bit codes)
_PQ_TRAIN_ROWS = 256 * _KSUB  # IndexIVFPQ trains its PQ on at most max_points_per_centroid × ksub rows
_SQ_TRAIN_ROWS = 100_000  # IndexIVFScalarQuantizer trains on at most this many rows
_PQ_ADD_BLOCK = 32_768  # IndexIVFPQ encodes added vectors this many at a time (a float residual each)
_SQ_ADD_BLOCK = 65_536  # IndexIVF encodes added vectors this many at a time (codes only)
_ID_MAP_BYTES = 48  # IndexIDMap2's reverse id map, per vector (unordered_map node and bucket)


def unit(vectors: npt.ArrayLike, *, copy: bool = True) -> FloatArray:
    """Rows scaled to length 1 as float32 (an all-zero row stays zero: similarity 0 with everything).

    ``copy=False`` scales a float32 array in place when it can.
    """
    x = np.array(vectors, dtype=np.float32, copy=copy or None, ndmin=2)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def parse_bytes(text: str, *, where: str = "memory") -> int:
    """:func:`lookalike.units.parse_bytes` raising :class:`StoreError` (a search setting is wrong)."""
    return units.parse_bytes(text, where=where, error=StoreError)


def default_memory_budget() -> int:
    """Bytes a search structure may take: ``$LOOKALIKE_SEARCH_MEMORY``, else half of the physical memory."""
    raw = os.environ.get(MEMORY_ENV, "").strip()
    if raw:
        return parse_bytes(raw, where=MEMORY_ENV)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


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


def chunk_rows(dim: int) -> int:
    """Rows per chunk so that a chunk of float32 vectors takes about 64 MiB."""
    return max(1024, _CHUNK_BYTES // (4 * dim))


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
# Choosing


@dataclass(frozen=True)
class Plan:
    """Which structure fits a collection, and why.

    ``factory`` is the FAISS index-factory string; ``nlist`` the inverted lists and ``pq_bytes`` the code
    size per vector where they apply; ``precomputed_table`` whether an IVF-PQ structure keeps faiss's
    precomputed table (nlist × m × 256 floats). ``bytes`` is the estimated memory the structure holds once
    built, ``build_bytes`` the estimated peak while :func:`build` makes it (what the memory budget is
    compared with); :meth:`memory` itemises both (:func:`memory_estimate`).
    """

    kind: Kind
    factory: str
    n: int
    dim: int
    bytes: int
    reason: str
    nlist: int | None = None
    pq_bytes: int | None = None
    precomputed_table: bool = False
    build_bytes: int = 0

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    def memory(self) -> dict[str, int]:
        """:func:`memory_estimate` for this plan: its parts, ``bytes`` and ``peak``."""
        return memory_estimate(
            self.kind,
            self.n,
            self.dim,
            nlist=self.nlist,
            pq_bytes=self.pq_bytes,
            precomputed_table=self.precomputed_table,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: 4·√n rounded to a power of two, within 256 … 65,536."""
    return int(min(65_536, max(256, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


def memory_estimate(
    kind: Kind,
    n: int,
    dim: int,
    *,
    nlist: int | None = None,
    pq_bytes: int | None = None,
    precomputed_table: bool = False,
) -> dict[str, int]:
    """Bytes a structure holds, and its peak while :func:`build` makes it from a store, part by part.

    Held (``bytes``): ``codes`` (n × code size: 4·dim ``Flat``, 2·dim ``SQfp16``, m ``PQ{m}``), ``ids``
    (8 bytes each), ``growth`` (the lists' unused capacity: they double as vectors are added, see
    ``_LIST_GROWTH``), ``centroids`` (nlist × dim floats), ``codebook`` (the PQ's 256 centroids of every
    sub-vector: dim × 256 floats), ``table`` (faiss's IVF-PQ precomputed table, nlist × m × 256 floats,
    when ``precomputed_table``) and, for ``Flat``, ``id_map`` (IDMap2's reverse map). A structure read back
    from its file holds no ``growth``: ``loaded``.

    Peak (``peak``): the larger of training — the centroids, codebook and table with the k-means sample
    (``train_sample``: 40 × nlist vectors) and faiss's copies of it (``train_scratch``: the subsample it
    trains the encoder on and its residuals, or drawing the sample chunk by chunk) — adding — everything
    held plus ``add_scratch`` (a chunk of about 64 MiB as read, as selected and normalised, and faiss's
    residuals of a block) — and tuning — everything held plus ``tune_scratch`` (exact search: a chunk
    and the scores of a block of queries). Not counted: the process itself (Python, NumPy, faiss: about
    0.1 GiB).

    >>> m = memory_estimate("ivf-pq", 1_000_000, 512, nlist=4096, pq_bytes=256, precomputed_table=True)
    >>> m["table"] == 4096 * 256 * 256 * 4, m["codes"], m["ids"]
    (True, 256000000, 8000000)
    """
    code = {"flat": 4 * dim, "ivf-sq": 2 * dim, "ivf-pq": pq_bytes or 0}[kind]
    chunk = min(n, chunk_rows(dim))  # rows of the chunks build() adds
    parts = {"codes": n * code, "ids": n * 8}
    parts["growth"] = round((parts["codes"] + parts["ids"]) * (_LIST_GROWTH - 1))
    if kind == "flat" or nlist is None:
        parts["id_map"] = n * _ID_MAP_BYTES
        # adding a chunk may reallocate the vector array: the old one lives until the new one is filled
        parts["add_scratch"] = 3 * chunk * dim * 4 + parts["codes"]
        held = parts["codes"] + parts["ids"] + parts["id_map"]
        return {
            **parts,
            "loaded": held,
            "bytes": held + parts["growth"],
            "peak": held + parts["growth"] + parts["add_scratch"],
        }
    pq = kind == "ivf-pq"
    parts["centroids"] = nlist * dim * 4
    parts["codebook"] = dim * _KSUB * 4 if pq else 0
    parts["table"] = nlist * code * _KSUB * 4 if pq and precomputed_table else 0
    fixed = parts["centroids"] + parts["codebook"] + parts["table"]
    rows = min(n, _TRAIN_PER_LIST * nlist)
    # faiss computes distances to the centroids in blocks of up to 4096 vectors × 1024 centroids
    scratch = min(4096, rows) * min(1024, nlist) * 4
    encoder_rows = min(rows, _PQ_TRAIN_ROWS if pq else _SQ_TRAIN_ROWS)
    parts["train_sample"] = rows * dim * 4
    parts["train_scratch"] = max(
        # residuals, plus a subsample copy when faiss draws one; k-means assignments and distances
        (2 if rows > encoder_rows else 1) * encoder_rows * dim * 4 + rows * 12 + scratch,
        # drawing the sample (StoreSource.sample): the next chunk read while the last one and the rows
        # kept from it are still alive
        3 * chunk * dim * 4,
    )
    encode = min(chunk, _PQ_ADD_BLOCK) * dim * 4 if pq else min(chunk, _SQ_ADD_BLOCK) * code
    parts["add_scratch"] = 3 * chunk * dim * 4 + encode + chunk * 8 + scratch
    # tune(): exact_search holds a chunk as read and normalised, and the scores of a block of queries
    # (scores, negated, concatenated with the best so far, their ids and argpartition's indices)
    queries = min(_TUNE_QUERIES, max(1, _QUERY_BLOCK_BYTES // (4 * chunk)))
    parts["tune_scratch"] = max(3 * chunk * dim * 4, 2 * chunk * dim * 4 + queries * chunk * 28)
    loaded = parts["codes"] + parts["ids"] + fixed
    built = loaded + parts["growth"]
    peaks = {
        "train_peak": fixed + parts["train_sample"] + parts["train_scratch"],
        "add_peak": built + parts["add_scratch"],
        "tune_peak": built + parts["tune_scratch"],
    }
    return {**parts, "loaded": loaded, "bytes": built, **peaks, "peak": max(peaks.values())}


def choose_structure(n: int, dim: int, *, memory_budget: int | None = None, flat_max: int = FLAT_MAX) -> Plan:
    """The search structure for ``n`` vectors of ``dim`` floats (the rule is in the module docstring).

    A structure fits the memory budget when its estimated peak while built (:func:`memory_estimate`)
    does. IVF-PQ plans leave faiss's precomputed table out (see the module docstring).

    >>> choose_structure(1_000, 512).factory
    'Flat'
    >>> choose_structure(1_000_000, 512, memory_budget=8 << 30).factory
    'IVF4096,SQfp16'
    >>> plan = choose_structure(1_000_000, 512, memory_budget=1 << 30)
    >>> plan.factory, plan.precomputed_table
    ('IVF4096,PQ256', False)
    """
    budget = default_memory_budget() if memory_budget is None else memory_budget
    if n < flat_max:
        mem = memory_estimate("flat", n, dim)
        return Plan(
            "flat",
            "Flat",
            n,
            dim,
            mem["bytes"],
            f"exact: fewer than {flat_max:,} vectors",
            build_bytes=mem["peak"],
        )
    nlist = ivf_lists(n)
    half = memory_estimate("ivf-sq", n, dim, nlist=nlist)
    if half["peak"] <= budget:
        return Plan(
            "ivf-sq",
            f"IVF{nlist},SQfp16",
            n,
            dim,
            half["bytes"],
            f"approximate: {n:,} vectors ≥ {flat_max:,}; float16 vectors fit the {_gib(budget)} budget "
            f"({_gib(half['peak'])} at the build's peak)",
            nlist=nlist,
            build_bytes=half["peak"],
        )
    options = [m for m in (256, 128, 64, 48, 32, 24, 16, 8, 4) if m < dim and dim % m == 0]
    estimates = [(m, memory_estimate("ivf-pq", n, dim, nlist=nlist, pq_bytes=m)) for m in options]
    fitting = [e for e in estimates if e[1]["peak"] <= budget]
    m, mem = fitting[0] if fitting else estimates[-1]
    return Plan(
        "ivf-pq",
        f"IVF{nlist},PQ{m}",
        n,
        dim,
        mem["bytes"],
        f"approximate and compressed: float16 vectors need {_gib(half['peak'])} at the build's peak, over "
        f"the {_gib(budget)} budget; PQ{m} needs {_gib(mem['peak'])}, without faiss's precomputed table"
        + ("" if fitting else "; even the smallest codes exceed it"),
        nlist=nlist,
        pq_bytes=m,
        build_bytes=mem["peak"],
    )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


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
