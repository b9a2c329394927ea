"""Crash safety of an index on its disk: moved to :mod:`lookalike.collection` —
:mod:`~lookalike.collection.disk` (storage failures as one clear line, :class:`StorageError`),
:mod:`~lookalike.collection.recovery` (the last good catalogue, recover, repair) and
:mod:`~lookalike.collection.health`. This module re-exports their names so that
``from lookalike.storage import …`` keeps working.
"""

# ruff: noqa: F401  (every public name of the old module is re-exported; __all__ is as it was)

from __future__ import annotations

from lookalike.collection.disk import (
    Guard,
    Kind,
    StorageError,
    connect_read_only,
    copy_info,
    damaged,
    explain,
    file_id,
    fsync_path,
    guarded,
    short_vectors,
    shown,
    translated,
    update_command,
)
from lookalike.collection.health import health
from lookalike.collection.location import COPY_NAME, DAMAGED_NAME, DB_NAME
from lookalike.collection.recovery import (
    catalogue_bytes,
    check_catalogue,
    copy_is_stale,
    recover,
    repair_vectors,
    restore_if_damaged,
    save_copy,
)

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
