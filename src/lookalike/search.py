"""Search structures (FAISS): moved to :mod:`lookalike.collection.ann`; this module re-exports its names
so that ``from lookalike.search import …`` keeps working."""

# ruff: noqa: F401  (every public name of the old module is re-exported; __all__ is as it was)

from __future__ import annotations

from lookalike.collection.ann import (
    FLAT_MAX,
    MEMORY_ENV,
    TUNE_RECALL,
    ArraySource,
    FloatArray,
    IdArray,
    Kind,
    Plan,
    Structure,
    VectorSource,
    build,
    choose_structure,
    chunk_rows,
    default_memory_budget,
    exact_search,
    ivf_lists,
    new_index,
    parse_bytes,
    recall_at,
    tune,
    unit,
)

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
    "unit",
]
