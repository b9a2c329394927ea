"""The collection store: moved to the package :mod:`lookalike.collection` (:class:`Index` in
:mod:`lookalike.collection.index`, :func:`index_folder` in :mod:`lookalike.collection.sync`, the records in
:mod:`lookalike.collection.records`, the crash-safety rules in :mod:`lookalike.collection.store`). This
module still gives the names it had (:data:`lookalike._moved.HOMES`), the same objects, so that
``from lookalike.index import …`` keeps working; importing it warns (:class:`DeprecationWarning`).
"""

from __future__ import annotations

from typing import Any

from lookalike._moved import PUBLIC, moved_attribute, warn_moved

warn_moved(__name__, "lookalike.collection")

__all__ = list(PUBLIC[__name__])


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, name)
