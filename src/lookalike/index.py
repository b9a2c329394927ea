"""The collection store: moved to the package :mod:`lookalike.collection` (:class:`Index` in
:mod:`lookalike.collection.index`, :func:`index_folder` in :mod:`lookalike.collection.sync`, the records in
:mod:`lookalike.collection.records`, the crash-safety rules in :mod:`lookalike.collection.store`). This
module re-exports the public names so that ``from lookalike.index import …`` keeps working;
importing it warns (:class:`DeprecationWarning`).
"""

from __future__ import annotations

from lookalike._moved import warn_moved
from lookalike.collection.ann import FLAT_MAX as FLAT_MAX
from lookalike.collection.index import Index
from lookalike.collection.location import DB_NAME as DB_NAME
from lookalike.collection.location import INDEX_DIRNAME, default_location, find_index
from lookalike.collection.made_by import embedder_meta
from lookalike.collection.records import Entry, Failure, Hit, SearchResult, UpdateReport
from lookalike.collection.records import Progress as Progress
from lookalike.collection.store import FORMAT as FORMAT
from lookalike.collection.store import FORMAT_VERSION as FORMAT_VERSION
from lookalike.collection.sync import index_folder
from lookalike.collection.writer import Writer
from lookalike.features.onnx import INDEX_MODEL_NAME as INDEX_MODEL_NAME
from lookalike.features.onnx import SAME_MODEL as SAME_MODEL
from lookalike.metrics import SEARCH_METRICS

warn_moved(__name__, "lookalike.collection")

__all__ = [
    "INDEX_DIRNAME",
    "SEARCH_METRICS",
    "Entry",
    "Failure",
    "Hit",
    "Index",
    "SearchResult",
    "UpdateReport",
    "Writer",
    "default_location",
    "embedder_meta",
    "find_index",
    "index_folder",
]
