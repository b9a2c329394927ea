"""Crash safety of an index on its disk: moved to :mod:`lookalike.collection` —
:mod:`~lookalike.collection.disk` (storage failures as one clear line, :class:`StorageError`),
:mod:`~lookalike.collection.recovery` (the last good catalogue, recover, repair) and
:mod:`~lookalike.collection.health`. This module still gives the names it had
(:data:`lookalike._moved.HOMES`), the same objects, so that ``from lookalike.storage import …`` keeps
working; importing it warns (:class:`DeprecationWarning`).
"""

from __future__ import annotations

from typing import Any

from lookalike._moved import PUBLIC, moved_attribute, warn_moved

warn_moved(__name__, "lookalike.collection")

__all__ = list(PUBLIC[__name__])


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, name)
