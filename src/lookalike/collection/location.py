"""Where an index lives and the files it holds.

An index is a folder, by default ``PHOTOS/.lookalike`` (:func:`default_location`), holding

* ``index.db`` (:data:`DB_NAME`) — the catalogue: SQLite, a row per image file and a ``meta`` table
  (:mod:`lookalike.collection.store`);
* ``vectors-<id>.f32`` — the raw float32 feature vectors, ``dim`` per row, append-only;
* ``search-<id>.faiss`` — the search structure over the L2-normalised vectors
  (:mod:`lookalike.collection.ann`);
* ``index.db.good`` (:data:`COPY_NAME`) — the last good copy of the catalogue
  (:mod:`lookalike.collection.recovery`), and ``index.db.damaged`` (:data:`DAMAGED_NAME`) — a damaged
  catalogue that the copy replaced;
* ``model.onnx`` — the model the index was made with, for torch-free queries (optional);
* ``lock`` (:data:`LOCK_NAME`) — held by the one process that writes.
"""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.errors import StoreError

__all__ = [
    "COPY_NAME",
    "DAMAGED_NAME",
    "DB_NAME",
    "INDEX_DIRNAME",
    "LOCK_NAME",
    "default_location",
    "find_index",
]

#: The hidden folder an index lives in, inside the indexed folder.
INDEX_DIRNAME = ".lookalike"
#: The catalogue.
DB_NAME = "index.db"
#: The last good catalogue, beside ``index.db``.
COPY_NAME = DB_NAME + ".good"
#: Where a damaged catalogue is kept when its copy replaces it (one, the latest).
DAMAGED_NAME = DB_NAME + ".damaged"
#: The write lock (an ``flock`` on it; the file holds the writer's pid).
LOCK_NAME = "lock"


def default_location(folder: str | os.PathLike[str]) -> Path:
    """Where :func:`index_folder` keeps the index of ``folder`` unless told otherwise."""
    return Path(folder) / INDEX_DIRNAME


def find_index(start: str | os.PathLike[str] = ".") -> Path:
    """The index for ``start``: an index folder itself, else ``.lookalike`` in ``start`` (or, for a file,
    its folder) or the nearest parent folder that has one.

    Raises :class:`StoreError` when there is none.
    """
    given = Path(start)
    names = (DB_NAME, COPY_NAME)  # a catalogue, or its last good copy (then Index.open says so)
    if any((given / name).is_file() for name in names):
        return given
    folder = given if given.is_dir() else given.parent
    for candidate in [folder.absolute(), *folder.absolute().parents]:
        if any((candidate / INDEX_DIRNAME / name).is_file() for name in names):
            return candidate / INDEX_DIRNAME
    raise StoreError(
        f"no lookalike index in {given} or the folders above it",
        hint="build one with `lookalike index FOLDER`, or pass --index DIR",
    )
