"""The modules that moved: an old path still imports, says where it lives now (:func:`warn_moved`) and
gives the names it had. An old module whose names went to several modules finds each where it is now
(:data:`HOMES`, :func:`moved_attribute`); one that went whole is the new module under its old name."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__all__ = ["HOMES", "PUBLIC", "moved_attribute", "warn_moved"]

#: Old module -> each name it had -> the module that defines it now.
HOMES: dict[str, dict[str, str]] = {
    "lookalike.index": {
        "Index": "lookalike.collection.index",
        "DB_NAME": "lookalike.collection.location",
        "INDEX_DIRNAME": "lookalike.collection.location",
        "default_location": "lookalike.collection.location",
        "find_index": "lookalike.collection.location",
        "embedder_meta": "lookalike.collection.made_by",
        "FLAT_MAX": "lookalike.collection.plan",
        "Entry": "lookalike.collection.records",
        "Failure": "lookalike.collection.records",
        "Hit": "lookalike.collection.records",
        "Progress": "lookalike.collection.records",
        "SearchResult": "lookalike.collection.records",
        "UpdateReport": "lookalike.collection.records",
        "FORMAT": "lookalike.collection.store",
        "FORMAT_VERSION": "lookalike.collection.store",
        "index_folder": "lookalike.collection.sync",
        "Writer": "lookalike.collection.writer",
        "INDEX_MODEL_NAME": "lookalike.features.onnx",
        "SAME_MODEL": "lookalike.features.onnx",
        "SEARCH_METRICS": "lookalike.metrics",
    },
    "lookalike.storage": {
        "F": "lookalike.collection.disk",
        "Guard": "lookalike.collection.disk",
        "Kind": "lookalike.collection.disk",
        "StorageError": "lookalike.collection.disk",
        "connect_read_only": "lookalike.collection.disk",
        "copy_info": "lookalike.collection.disk",
        "damaged": "lookalike.collection.disk",
        "explain": "lookalike.collection.disk",
        "file_id": "lookalike.collection.disk",
        "fsync_path": "lookalike.collection.disk",
        "guarded": "lookalike.collection.disk",
        "short_vectors": "lookalike.collection.disk",
        "shown": "lookalike.collection.disk",
        "translated": "lookalike.collection.disk",
        "update_command": "lookalike.collection.disk",
        "health": "lookalike.collection.health",
        "COPY_NAME": "lookalike.collection.location",
        "DAMAGED_NAME": "lookalike.collection.location",
        "DB_NAME": "lookalike.collection.location",
        "catalogue_bytes": "lookalike.collection.recovery",
        "check_catalogue": "lookalike.collection.recovery",
        "copy_is_stale": "lookalike.collection.recovery",
        "recover": "lookalike.collection.recovery",
        "repair_vectors": "lookalike.collection.recovery",
        "restore_if_damaged": "lookalike.collection.recovery",
        "save_copy": "lookalike.collection.recovery",
    },
}

#: Old module -> the names of its ``__all__`` (the others of :data:`HOMES` it gave too, unadvertised).
PUBLIC: dict[str, tuple[str, ...]] = {
    "lookalike.index": (
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
    ),
    "lookalike.storage": (
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
    ),
}


def warn_moved(old: str, new: str) -> None:
    """Warn (:class:`DeprecationWarning`) that module ``old`` is now ``new``. Called by the old module as it
    is imported, the warning names the line that imported it: 1 is here, 2 the old module, 3 its importer
    (:func:`warnings.warn` steps over the import machinery's own frames)."""
    warnings.warn(
        f"{old} is deprecated and will be removed; import {new} instead", DeprecationWarning, stacklevel=3
    )


def moved_attribute(old: str, name: str) -> Any:
    """Attribute ``name`` of the old module ``old`` (its ``__getattr__``, PEP 562): the object of that name
    in the module :data:`HOMES` names, imported on first use."""
    home = HOMES[old].get(name)
    if home is None:
        raise AttributeError(f"module {old!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
