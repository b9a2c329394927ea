"""Search structures (FAISS): moved to :mod:`lookalike.collection.ann`; this module re-exports its names
so that ``from lookalike.search import …`` keeps working."""

from __future__ import annotations

from lookalike.collection.ann import FLAT_MAX as FLAT_MAX
from lookalike.collection.ann import MEMORY_ENV as MEMORY_ENV
from lookalike.collection.ann import TUNE_RECALL as TUNE_RECALL
from lookalike.collection.ann import ArraySource as ArraySource
from lookalike.collection.ann import FloatArray as FloatArray
from lookalike.collection.ann import IdArray as IdArray
from lookalike.collection.ann import Kind as Kind
from lookalike.collection.ann import Plan as Plan
from lookalike.collection.ann import Structure as Structure
from lookalike.collection.ann import VectorSource as VectorSource
from lookalike.collection.ann import __all__ as __all__
from lookalike.collection.ann import build as build
from lookalike.collection.ann import choose_structure as choose_structure
from lookalike.collection.ann import chunk_rows as chunk_rows
from lookalike.collection.ann import default_memory_budget as default_memory_budget
from lookalike.collection.ann import exact_search as exact_search
from lookalike.collection.ann import ivf_lists as ivf_lists
from lookalike.collection.ann import new_index as new_index
from lookalike.collection.ann import parse_bytes as parse_bytes
from lookalike.collection.ann import recall_at as recall_at
from lookalike.collection.ann import tune as tune
from lookalike.collection.ann import unit as unit
