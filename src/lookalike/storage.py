"""Crash safety of an index on its disk: moved to :mod:`lookalike.collection` —
:mod:`~lookalike.collection.disk` (storage failures as one clear line, :class:`StorageError`),
:mod:`~lookalike.collection.recovery` (the last good catalogue, recover, repair) and
:mod:`~lookalike.collection.health`. This module re-exports their names so that
``from lookalike.storage import …`` keeps working;
importing it warns (:class:`DeprecationWarning`).
"""

from __future__ import annotations

from lookalike._moved import warn_moved
from lookalike.collection.disk import F as F
from lookalike.collection.disk import Guard as Guard
from lookalike.collection.disk import Kind as Kind
from lookalike.collection.disk import StorageError, connect_read_only, explain, guarded, translated
from lookalike.collection.disk import copy_info as copy_info
from lookalike.collection.disk import damaged as damaged
from lookalike.collection.disk import file_id as file_id
from lookalike.collection.disk import fsync_path as fsync_path
from lookalike.collection.disk import short_vectors as short_vectors
from lookalike.collection.disk import shown as shown
from lookalike.collection.disk import update_command as update_command
from lookalike.collection.health import health
from lookalike.collection.location import COPY_NAME
from lookalike.collection.location import DAMAGED_NAME as DAMAGED_NAME
from lookalike.collection.location import DB_NAME as DB_NAME
from lookalike.collection.recovery import catalogue_bytes as catalogue_bytes
from lookalike.collection.recovery import check_catalogue as check_catalogue
from lookalike.collection.recovery import copy_is_stale as copy_is_stale
from lookalike.collection.recovery import recover, repair_vectors, restore_if_damaged, save_copy

warn_moved(__name__, "lookalike.collection")

__all__ = [
    "COPY_NAME",
    "StorageError",
    "connect_read_only",
    "explain",
    "guarded",
    "health",
    "recover",
    "repair_vectors",
    "restore_if_damaged",
    "save_copy",
    "translated",
]
