"""Recovery: the last good catalogue, putting it back, and dropping rows whose vectors were lost.

* :func:`save_copy` keeps a consistent copy of the catalogue (``index.db.good``, made with SQLite's online
  backup API, written under a temporary name, fsynced and renamed into place) after every run that
  changed the index; :func:`recover` puts it back when the live catalogue is damaged or gone.
* :func:`repair_vectors` checks the catalogue against the vectors file and drops the rows whose vectors
  are lost (past the end of a truncated file, in a missing file, or not finite) so that the next update
  embeds just those files again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lookalike.collection.disk import (
    copy_info,
    damaged,
    fsync_path,
    guarded,
    read_meta,
    saved_when,
    sqlite_code,
)
from lookalike.collection.location import COPY_NAME, DAMAGED_NAME, DB_NAME
from lookalike.collection.store import new_name, write_lock, write_meta

if TYPE_CHECKING:
    from lookalike.collection.index import Index

__all__ = [
    "catalogue_bytes",
    "check_catalogue",
    "copy_is_stale",
    "recover",
    "repair_vectors",
    "restore_if_damaged",
    "save_copy",
]


class Catalogue(Protocol):
    """What :func:`save_copy` copies from: an open catalogue (``sqlite3.Connection`` or a ``Store``)."""

    def backup(self, target: sqlite3.Connection, /) -> None: ...


def save_copy(conn: Catalogue, location: Path) -> Path:
    """Copy the catalogue open on ``conn`` (a connection, or a :class:`~lookalike.collection.store.Store`:
    a consistent snapshot, by SQLite's online backup API) to ``location/index.db.good``: written to a
    temporary name, fsynced, renamed into place."""
    final = location / COPY_NAME
    tmp = location / (COPY_NAME + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            conn.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # a standalone file: readable without -wal/-shm
        finally:
            dst.close()
        fsync_path(tmp)
        tmp.replace(final)
        fsync_path(location)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + "-journal").unlink(missing_ok=True)
        raise
    return final


def copy_is_stale(location: Path, meta: dict[str, Any]) -> bool:
    """Whether the last good copy is missing or behind the catalogue whose ``meta`` is given in what is
    costly to make again: vectors (a run killed before it saved its copy) or the search structure. (Rows
    it misses otherwise, of files removed, renamed or touched, the update after a restore sees again.)"""
    copied = read_meta(location / COPY_NAME)
    keys = ("vectors_file", "vectors_count", "search")
    return copied is None or any(copied.get(k) != meta.get(k) for k in keys)


def catalogue_bytes(location: Path) -> int:
    """Bytes the catalogue of the index in ``location`` takes (its write-ahead log included): about what
    a copy of it needs."""
    total = 0
    for name in (DB_NAME, DB_NAME + "-wal"):
        with contextlib.suppress(OSError):
            total += (location / name).stat().st_size
    return total


def check_catalogue(path: Path, *, full: bool = False) -> str | None:
    """Why the catalogue ``path`` is damaged (SQLite's ``quick_check``, or ``integrity_check`` when
    ``full``), or ``None`` when it is sound. A missing file is not damaged."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=30.0)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    try:
        rows = conn.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}(5)").fetchall()
        conn.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.DatabaseError as exc:
        if sqlite_code(exc).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return str(exc)
        raise
    finally:
        conn.close()
    problems = [str(r[0]) for r in rows if r[0] != "ok"]
    return "; ".join(p.replace("\n", " ") for p in problems)[:200] if problems else None


def recover(location: Path, *, full: bool = False) -> str | None:
    """Put the last good copy in place of a damaged or missing catalogue; returns one line saying what
    was done, or ``None`` when the catalogue is sound (or there is none and no copy: a new index).

    Raises :class:`StorageError` for a damaged catalogue without a good copy. Call with the write lock.
    """
    db = location / DB_NAME
    copy = location / COPY_NAME
    problem = check_catalogue(db, full=full)
    missing = not db.is_file()
    if problem is None and not missing:
        return None
    if missing and not any(location.glob("vectors-*")):
        return None  # a new index (or one never finished): nothing to recover
    info = copy_info(location) if check_catalogue(copy) is None else None
    if info is None:
        if missing:
            return None  # nothing to restore from: index_folder starts afresh
        raise damaged(location, problem or "", file=db)
    if not missing:
        db.replace(location / DAMAGED_NAME)
    for suffix in ("-wal", "-shm"):  # they belong to the damaged file
        Path(str(db) + suffix).unlink(missing_ok=True)
    tmp = location / (DB_NAME + ".restoring")
    shutil.copyfile(copy, tmp)
    fsync_path(tmp)
    tmp.replace(db)
    fsync_path(location)
    what = "was missing" if missing else f"was damaged ({problem}; kept as {DAMAGED_NAME})"
    return (
        f"the catalogue {db} {what}: restored its last good copy ({info['images']:,} images, "
        f"{saved_when(info['saved'])})"
    )


def restore_if_damaged(location: Path) -> str | None:
    """:func:`recover` with the index's write lock held (waits for a running update); the line it says."""
    with guarded(location), write_lock(location):
        return recover(location)


def repair_vectors(index: Index, *, full: bool = False) -> list[str]:
    """Check the catalogue of ``index`` against its vectors file and drop the rows whose vectors are lost
    (past the end of the file, or the file is gone; with ``full``, also vectors that are not finite or
    that two rows share), so that the next update embeds their files again. Returns the dropped paths.
    Call with the write lock held, before a :class:`~lookalike.collection.writer.Writer` opens the index."""
    store = index.store
    meta = store.meta()
    dim = int(meta["dim"])
    row = 4 * dim
    count = int(meta["vectors_count"])
    file = index.location / str(meta["vectors_file"])
    try:
        size: int | None = file.stat().st_size
    except FileNotFoundError:
        size = None
    usable = 0 if size is None else min(count, size // row)
    lost = {
        int(rid): str(path)
        for rid, path in store.query(
            "SELECT id, path FROM images WHERE status = 'ok' AND (vector IS NULL OR vector >= ?)", (usable,)
        )
    }
    if full and usable:
        seen: set[int] = set()
        for rid, path, vid in store.query(
            "SELECT id, path, vector FROM images WHERE status = 'ok' AND vector < ? ORDER BY vector, id",
            (usable,),
        ):
            if vid in seen:
                lost[int(rid)] = str(path)
            seen.add(int(vid))
        bad = [int(b) for b in _non_finite(file, dim, usable)]
        for start in range(0, len(bad), 900):  # within SQLite's limit on bound values
            part = bad[start : start + 900]
            marks = ",".join("?" * len(part))
            for rid, path in store.query(
                f"SELECT id, path FROM images WHERE status = 'ok' AND vector IN ({marks})", part
            ):
                lost[int(rid)] = str(path)
    if not lost and usable == count and size is not None:
        return []
    values: dict[str, Any] = {"vectors_count": usable}
    if size is None:
        name = new_name("vectors", ".f32")
        with (index.location / name).open("wb") as f:
            os.fsync(f.fileno())
        fsync_path(index.location)
        values["vectors_file"] = name
    if lost:
        values["search"] = None  # rebuilt from the rows that are left
    with store.transaction() as conn:
        conn.executemany("DELETE FROM images WHERE id = ?", ((rid,) for rid in lost))
        write_meta(conn, **values)
    return sorted(lost.values())


def _non_finite(path: Path, dim: int, rows: int) -> np.ndarray:
    """Rows (below ``rows``) of the vectors file ``path`` holding a NaN or an infinity."""
    bad: list[np.ndarray] = []
    step = max(1, (16 << 20) // (4 * dim))
    with path.open("rb") as f:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            block = np.fromfile(f, dtype=np.float32, count=n * dim).reshape(-1, dim)
            bad.append(start + np.flatnonzero(~np.isfinite(block).all(axis=1)))
    return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)
