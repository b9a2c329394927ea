"""Search structures (FAISS): moved to :mod:`lookalike.collection.ann`; this module re-exports its names
so that ``from lookalike.search import …`` keeps working."""

from __future__ import annotations

from lookalike.collection.ann import (
    FLAT_MAX,
    TUNE_RECALL,
    ArraySource,
    Plan,
    Structure,
    VectorSource,
    build,
    choose_structure,
    default_memory_budget,
    exact_search,
    unit,
)
from lookalike.collection.ann import MEMORY_ENV as MEMORY_ENV
from lookalike.collection.ann import FloatArray as FloatArray
from lookalike.collection.ann import IdArray as IdArray
from lookalike.collection.ann import Kind as Kind
from lookalike.collection.ann import chunk_rows as chunk_rows
from lookalike.collection.ann import ivf_lists as ivf_lists
from lookalike.collection.ann import new_index as new_index
from lookalike.collection.ann import parse_bytes as parse_bytes
from lookalike.collection.ann import recall_at as recall_at
from lookalike.collection.ann import tune as tune

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
