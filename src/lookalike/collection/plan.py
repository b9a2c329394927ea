"""Which search structure fits a collection, and why: :func:`choose_structure` and its memory plan.

:func:`choose_structure` picks the FAISS index for ``n`` vectors of ``dim`` floats as a :class:`Plan` (the
factory string, its lists and code size, the memory it takes), and :func:`memory_estimate` counts that
memory part by part. Making, tuning and searching the structure a plan names is
:mod:`lookalike.collection.ann`'s (:func:`~lookalike.collection.ann.build`); the sizes it works in
(:func:`chunk_rows`, the training sample, the tuning queries) are defined here, where the estimate counts
them.

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

"Fits" means the estimated peak of :func:`~lookalike.collection.ann.build` (:func:`memory_estimate`) is
within the budget: the codes and ids, the lists' unused capacity (they double as they grow: 1.44× on
average), the centroids, the PQ codebook and table, and the larger of training (the k-means sample and
faiss's copies of it) and adding (a chunk of vectors and faiss's scratch). ``benchmarks/search_memory.py``
checks it against the measured peak RSS of builds (benchmarks/RESULTS.md, "Search structure memory plan").

autofaiss prefers HNSW whenever it fits in memory; here HNSW32 built 4× slower than IVF at 200k
vectors and needed efSearch 64 for recall 0.98 where IVF reached 0.998 at nprobe 8 faster, on clustered
data; it cannot delete vectors either, so lookalike does not use it. 8192 lists instead of 4096 at 1M
vectors gave lower recall at every speed and took 3× longer to build.

>>> choose_structure(1_000, 512).factory
'Flat'
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lookalike import units
from lookalike.errors import StoreError

__all__ = ["FLAT_MAX", "Plan", "choose_structure", "default_memory_budget", "memory_estimate"]

Kind = Literal["flat", "ivf-sq", "ivf-pq"]

#: Below this many vectors, search is exact (``Flat``).
FLAT_MAX = 50_000
#: Environment variable: memory budget for a search structure in bytes (suffixes K, M, G allowed).
MEMORY_ENV = "LOOKALIKE_SEARCH_MEMORY"

# The sizes build() works in (lookalike.collection.ann), which the memory estimate counts:
_TUNE_QUERIES = 256  # the collection's vectors that tune() measures recall with
_TRAIN_PER_LIST = 40  # k-means training points per inverted list (faiss asks for at least 39)
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


def chunk_rows(dim: int) -> int:
    """Rows per chunk so that a chunk of float32 vectors takes about 64 MiB."""
    return max(1024, _CHUNK_BYTES // (4 * dim))


# ----------------------------------------------------------------------------------------------------------
# Choosing


@dataclass(frozen=True)
class Plan:
    """Which structure fits a collection, and why.

    ``factory`` is the FAISS index-factory string; ``nlist`` the inverted lists and ``pq_bytes`` the code
    size per vector where they apply; ``precomputed_table`` whether an IVF-PQ structure keeps faiss's
    precomputed table (nlist × m × 256 floats). ``bytes`` is the estimated memory the structure holds once
    built, ``build_bytes`` the estimated peak while :func:`~lookalike.collection.ann.build` makes it (what
    the memory budget is compared with); :meth:`memory` itemises both (:func:`memory_estimate`).
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
    """Bytes a structure holds, and its peak while :func:`~lookalike.collection.ann.build` makes it from a
    store, part by part.

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
