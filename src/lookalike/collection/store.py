"""The store of an index: its catalogue (SQLite) and vectors file, and the rules that keep them crash-safe.

Files (:mod:`lookalike.collection.location` names them):

* ``index.db`` — SQLite in WAL mode: a row per image file (path relative to the indexed folder, size,
  mtime, SHA-256 of the content, width × height, row of its vector, status ``ok`` or ``failed`` with the
  reason) and a ``meta`` table: what made the vectors (:meth:`Embedder.describe`: model, weights
  fingerprint, preprocessing, precision), the folder, the vectors file and how many of its rows are
  committed, and the search structure;
* ``vectors-<id>.f32`` — the raw float32 feature vectors, ``dim`` per row, append-only (L1, MSE and L2
  re-ranking need raw vectors; cosine and NCC do not care about scale);
* ``search-<id>.faiss`` — the search structure over the L2-normalised vectors
  (:mod:`lookalike.collection.ann`, kept current by :mod:`lookalike.collection.structure`);
* ``lock`` — held by the one process that writes (:func:`write_lock`).

Crash safety (kill -9 at any moment, then run again: the result equals an uninterrupted run). These rules
are kept by :class:`Store` and :class:`lookalike.collection.writer.Writer`, and by nothing else:

1. vectors are appended past the committed row count and fsynced *before* the transaction that inserts
   the rows pointing at them and raises the count commits; rows past the count are orphans, cut off when
   a writer opens the file, so a crash can leave neither a row without its vector nor a vector twice
   (:meth:`Writer.flush`);
2. a row changes only in a transaction that also holds its new vector row, stat and hash, so a file
   interrupted half-way is seen as changed again on the next run; deletions, renames and touched files
   commit in one transaction before embedding starts (:meth:`Writer.apply`);
3. a new search structure or a compacted vectors file is written under a new name and fsynced, then one
   transaction points the meta table at it, then the old file is deleted; files that no committed row
   points at are removed when a writer opens the index (:meth:`Writer.compact`,
   :meth:`Writer.refresh_search`);
4. the search structure is a cache: rows committed after it was written are added on open, vectors no
   longer referenced by a row are filtered from results, and a missing or unreadable structure is rebuilt
   from the committed rows (:class:`lookalike.collection.structure.StructureCache`).

On top of these, :mod:`lookalike.collection.recovery` keeps the last good copy of the catalogue and puts it
back when the catalogue is damaged or gone, and :mod:`lookalike.collection.disk` says in one line what the
disk failed at.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lookalike.collection.disk import (
    connect_read_only,
    damaged,
    explain,
    file_id,
    fsync_path,
    short_vectors,
    translated,
)
from lookalike.collection.location import COPY_NAME, DB_NAME, LOCK_NAME
from lookalike.collection.records import Entry, entry_from_row
from lookalike.errors import StoreError

__all__ = [
    "COLUMNS",
    "FORMAT",
    "FORMAT_VERSION",
    "ScanDiff",
    "Store",
    "connect",
    "create_catalogue",
    "fsync",
    "is_complete",
    "new_name",
    "open_catalogue",
    "write_lock",
    "write_meta",
]

FORMAT = "lookalike-index"
FORMAT_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER,
    mtime_ns INTEGER,
    sha256 TEXT,
    width INTEGER,
    height INTEGER,
    vector INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_vector ON images(vector);
CREATE INDEX IF NOT EXISTS images_size ON images(size);
"""
#: The columns :func:`lookalike.collection.records.entry_from_row` reads, in its order.
COLUMNS = "id, path, size, mtime_ns, sha256, width, height, vector, status, error"
#: Live rows whose vector is at or below a row number (those a search structure holds).
INSIDE = "SELECT COUNT(*) FROM images WHERE status = 'ok' AND vector <= ?"


# ----------------------------------------------------------------------------------------------------------
# Files and connections


def fsync(fd: int) -> None:
    """Flush an open file to the disk (every fsync of vectors goes through here: tests stop a run right
    after it)."""
    os.fsync(fd)


def new_name(prefix: str, suffix: str) -> str:
    """A fresh file name: files are never overwritten, a new one replaces the old (rule 3)."""
    return f"{prefix}-{secrets.token_hex(6)}{suffix}"


@contextlib.contextmanager
def write_lock(location: Path) -> Iterator[None]:
    """One writer per index: an exclusive ``flock`` on ``location/lock`` (released by the OS on a crash)."""
    location.mkdir(parents=True, exist_ok=True)
    fd = os.open(location / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise StoreError(
                f"another lookalike process (pid {holder}) is updating {location}",
                hint="wait for it to finish, or pass `location=OTHER`",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the catalogue ``path`` (created with its tables if new): WAL, full sync, autocommit
    (transactions are explicit); read-only where this user or disk cannot write."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:
            conn.close()
            if not path.is_file() or not any(w in str(exc) for w in ("readonly", "unable to open")):
                raise
            conn = connect_read_only(path)  # enough to search; writes fail with a clear line
    except sqlite3.DatabaseError as exc:
        raise _damaged(path.parent, exc) from None
    return conn


def is_complete(location: Path) -> bool:
    """Whether ``location`` holds a catalogue whose creation finished (its meta table names the format)."""
    conn = connect(location / DB_NAME)
    try:
        return conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() is not None
    finally:
        conn.close()


def _damaged(location: Path, exc: Exception) -> StoreError:
    return explain(exc, location) or damaged(location, exc)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def write_meta(conn: sqlite3.Connection, **values: Any) -> None:
    """Set keys of the ``meta`` table (JSON-encoded) inside the caller's transaction on ``conn``."""
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(k, json.dumps(v)) for k, v in values.items()],
    )


def open_catalogue(location: Path) -> sqlite3.Connection:
    """A connection to the catalogue of the index in folder ``location`` (for :class:`Store`)."""
    if not (location / DB_NAME).is_file() and (location / COPY_NAME).is_file():
        raise damaged(location, "", missing=True)
    if not (location / DB_NAME).is_file():
        raise StoreError(
            f"{location} is not a lookalike index (no {DB_NAME} in it)",
            hint="build one with `lookalike index FOLDER` or pass the right --index DIR",
        )
    return connect(location / DB_NAME)


def create_catalogue(location: Path, *, root: Path, embedder: dict[str, Any]) -> sqlite3.Connection:
    """A new, empty index in ``location`` for the folder ``root``, its vectors made by ``embedder``
    (:func:`~lookalike.collection.made_by.embedder_meta`): an empty vectors file, then the catalogue
    pointing at it; returns the connection to it (for :class:`Store`). Call with the write lock held."""
    location.mkdir(parents=True, exist_ok=True)
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        (location / name).unlink(missing_ok=True)
    vectors = new_name("vectors", ".f32")
    with (location / vectors).open("wb") as f:
        fsync(f.fileno())
    conn = connect(location / DB_NAME)
    root_abs = root.absolute()
    now = time.time()
    with _transaction(conn):
        write_meta(
            conn,
            format=FORMAT,
            version=FORMAT_VERSION,
            root=str(root_abs),
            root_relative=os.path.relpath(root_abs, location.absolute()),
            embedder=embedder,
            precisions=[embedder.get("precision")],
            dim=int(embedder["dim"]),
            vectors_file=vectors,
            vectors_count=0,
            search=None,
            created=now,
            updated=now,
        )
    fsync_path(location)
    return conn


@dataclass
class ScanDiff:
    """A folder's files compared with the rows (:meth:`Store.compare`).

    ``unchanged``: files whose size and mtime match their row; ``touched``: ``(path, size, mtime_ns, old
    sha256)`` of files of the same size but another mtime (hash them to tell); ``changed`` and ``retry``:
    ``(path, size, mtime_ns)`` of files whose size changed, and of files that failed before; ``new``: files
    without a row; ``gone``: ``(id, path, size, sha256, status)`` of rows without a file.
    """

    unchanged: int
    touched: list[tuple[str, int, int, str | None]]
    changed: list[tuple[str, int, int]]
    retry: list[tuple[str, int, int]]
    new: list[tuple[str, int, int]]
    gone: list[tuple[int, str, int | None, str | None, str]]


# ----------------------------------------------------------------------------------------------------------
# The store


class Store:
    """The catalogue and vectors file of one index. Safe to share between threads.

    Readers call its queries; a :class:`~lookalike.collection.writer.Writer` (holding :func:`write_lock`)
    is the one that changes it, through :meth:`transaction`. When another file takes the catalogue's place
    (its last good copy restored, or a rebuild), the store reopens it: :attr:`generation` counts that.
    """

    def __init__(self, location: Path, conn: sqlite3.Connection) -> None:
        self.location = location
        self._conn = conn
        self.lock = threading.RLock()
        self.generation = 0  # +1 each time another catalogue file is opened in place of this one
        self._vectors: tuple[str, int] | None = None  # (vectors file name, open descriptor)
        self._catalogue = file_id(location / DB_NAME)  # reopened once another file replaces it
        meta = self.meta()
        if meta.get("format") != FORMAT or int(meta.get("version", 0)) > FORMAT_VERSION:
            conn.close()
        if meta.get("format") != FORMAT:
            raise StoreError(
                f"{location} is not a complete lookalike index (it was interrupted while being created, "
                "or was written by another program)",
                hint="index the folder again with `rebuild=True`",
            )
        if int(meta.get("version", 0)) > FORMAT_VERSION:
            raise StoreError(
                f"{location} was written by a newer lookalike (format {meta.get('version')})",
                hint="upgrade lookalike, or rebuild the index with `rebuild=True`",
            )

    def close(self) -> None:
        with self.lock:
            if self._vectors is not None:
                os.close(self._vectors[1])
                self._vectors = None
            self._conn.close()

    # -- the catalogue -------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The ``meta`` table as a dict (JSON values decoded)."""
        with self.lock:
            self._follow_catalogue()
            try:
                rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            except sqlite3.DatabaseError as exc:
                raise _damaged(self.location, exc) from None
        return {k: json.loads(v) for k, v in rows}

    def _follow_catalogue(self) -> None:
        """Reopen ``index.db`` when `lookalike index` put another file in its place (restored its last good
        copy, or rebuilt it), so that a long-running reader (``serve``) answers from it without a restart."""
        now = file_id(self.location / DB_NAME)
        if now is None or now == self._catalogue:
            return
        try:
            conn = connect(self.location / DB_NAME)
        except StoreError:
            return  # being replaced: the old one answers meanwhile
        try:
            complete = conn.execute("SELECT 1 FROM meta WHERE key = 'format'").fetchone() is not None
        except sqlite3.Error:
            complete = False
        if not complete:  # a rebuild has only begun
            conn.close()
            return
        self._conn.close()
        self._conn, self._catalogue = conn, now
        if self._vectors is not None:
            os.close(self._vectors[1])
            self._vectors = None
        self.generation += 1

    @property
    def root(self) -> Path:
        """The indexed folder (found beside the index if both moved together)."""
        meta = self.meta()
        beside = self.location.absolute() / meta.get("root_relative", "..")
        if beside.is_dir():
            return Path(os.path.normpath(beside))
        return Path(meta["root"])

    @translated
    def scalar(self, sql: str, args: Sequence[Any] = ()) -> int:
        """The integer a one-value query answers (0 for NULL)."""
        with self.lock:
            self._follow_catalogue()
            return int(self._conn.execute(sql, args).fetchone()[0] or 0)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows a query answers."""
        with self.lock:
            return self._conn.execute(sql, args).fetchall()

    @property
    def count(self) -> int:
        """Searchable images (rows with status ``ok``)."""
        return self.scalar("SELECT COUNT(*) FROM images WHERE status = 'ok'")

    def data_version(self) -> tuple[int, int, int]:
        """Changes when anything was committed since the last call, by any connection (or the catalogue was
        reopened)."""
        with self.lock:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            return self.generation, version, self._conn.total_changes

    def entries(self, status: Literal["ok", "failed", "all"] = "ok") -> Iterator[Entry]:
        """Rows in path order (streamed, 10,000 at a time)."""
        where = "" if status == "all" else f"WHERE status = '{status}'"
        last = ""
        while True:
            rows = self.query(
                f"SELECT {COLUMNS} FROM images {where} {'AND' if where else 'WHERE'} path > ? "
                "ORDER BY path LIMIT 10000",
                (last,),
            )
            if not rows:
                return
            for row in rows:
                yield entry_from_row(row)
            last = rows[-1][1]

    def entry(self, rel: str) -> Entry | None:
        """The row of the stored path ``rel``, or ``None``."""
        rows = self.query(f"SELECT {COLUMNS} FROM images WHERE path = ?", (rel,))
        return entry_from_row(rows[0]) if rows else None

    def relpath(self, path: str | os.PathLike[str]) -> str | None:
        """The stored (folder-relative, ``/``-separated) path that ``path`` names, or ``None`` if it names
        no indexed file. ``path`` is a path to the file from here (through symbolic links or not) or, if
        no such file exists here, the stored path itself."""
        p = Path(path)
        root = self.root
        exists = os.path.lexists(p)
        candidates = [] if exists or p.is_absolute() else [p.as_posix()]
        for base, target in ((root.absolute(), p.absolute()), (root.resolve(), p.resolve())):
            with contextlib.suppress(ValueError):
                candidates.append(
                    Path(os.path.normpath(target)).relative_to(os.path.normpath(base)).as_posix()
                )
        with self.lock:
            for rel in candidates:
                if self._conn.execute("SELECT 1 FROM images WHERE path = ?", (rel,)).fetchone():
                    return rel
        return None

    @translated
    def find(self, path: str | os.PathLike[str]) -> Entry | None:
        """The row of an indexed file, by path relative to the folder (or any path that resolves into it)."""
        rel = self.relpath(path)
        return None if rel is None else self.entry(rel)

    def vectors(self, entries: Sequence[Entry]) -> npt.NDArray[np.float32]:
        """Raw vectors of ``entries`` (which must have status ``ok``), as an N×dim float32 array."""
        ids = np.array([e.vector for e in entries], dtype=np.int64)
        if any(e.vector is None for e in entries):
            bad = next(e for e in entries if e.vector is None)
            raise StoreError(f"{bad.path} has no vector ({bad.status}: {bad.error})")
        return self.read_vectors(ids)

    def rows_for(self, vids: Sequence[int]) -> dict[int, Entry]:
        """The live rows whose vectors are ``vids``, by vector row."""
        out: dict[int, Entry] = {}
        with self.lock:
            for start in range(0, len(vids), 900):  # within SQLite's limit on bound values
                part = vids[start : start + 900]
                marks = ",".join("?" * len(part))
                for row in self._conn.execute(
                    f"SELECT {COLUMNS} FROM images WHERE status = 'ok' AND vector IN ({marks})", part
                ):
                    out[int(row[7])] = entry_from_row(row)
        return out

    def live_vids(self, after: int = -1) -> npt.NDArray[np.int64]:
        """Vector rows of the live rows past ``after``, ascending."""
        rows = self.query(
            "SELECT vector FROM images WHERE status = 'ok' AND vector > ? ORDER BY vector", (after,)
        )
        return np.array([r[0] for r in rows], dtype=np.int64)

    def compare(self, scanned: Sequence[tuple[str, int | None, int | None]], skip: Sequence[str]) -> ScanDiff:
        """Compare ``(path, size, mtime_ns)`` of a folder's files (size ``None``: could not stat) with the
        rows; rows below the folders ``skip`` (which could not be listed) are not ``gone``."""
        conn = self._conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS scan (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER)"
        )
        with self.transaction():
            conn.execute("DELETE FROM scan")
            conn.executemany("INSERT INTO scan(path, size, mtime_ns) VALUES (?, ?, ?)", scanned)
        join = "FROM scan s JOIN images i ON i.path = s.path WHERE s.size IS NOT NULL AND "
        ok = "i.status = 'ok' AND i.size"
        diff = ScanDiff(
            unchanged=int(
                conn.execute(f"SELECT COUNT(*) {join} {ok} = s.size AND i.mtime_ns = s.mtime_ns").fetchone()[
                    0
                ]
            ),
            touched=conn.execute(
                f"SELECT s.path, s.size, s.mtime_ns, i.sha256 {join} {ok} = s.size "
                "AND i.mtime_ns != s.mtime_ns"
            ).fetchall(),
            changed=conn.execute(f"SELECT s.path, s.size, s.mtime_ns {join} {ok} != s.size").fetchall(),
            retry=conn.execute(f"SELECT s.path, s.size, s.mtime_ns {join} i.status = 'failed'").fetchall(),
            new=conn.execute(
                "SELECT s.path, s.size, s.mtime_ns FROM scan s LEFT JOIN images i ON i.path = s.path "
                "WHERE i.path IS NULL AND s.size IS NOT NULL"
            ).fetchall(),
            gone=[
                row
                for row in conn.execute(
                    "SELECT i.id, i.path, i.size, i.sha256, i.status FROM images i "
                    "LEFT JOIN scan s ON s.path = i.path WHERE s.path IS NULL"
                )
                if not any(row[1].startswith(f + "/") for f in skip)
            ],
        )
        conn.execute("DELETE FROM scan")
        return diff

    # -- changing it (a Writer, with the write lock) -------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception); yields the connection to run the
        transaction's statements on."""
        with _transaction(self._conn):
            yield self._conn

    def set_meta(self, **values: Any) -> None:
        """Set keys of the ``meta`` table (JSON-encoded), in a transaction of their own."""
        with self.transaction() as conn:
            write_meta(conn, **values)

    def backup(self, target: sqlite3.Connection) -> None:
        """Copy the catalogue into ``target`` (a consistent snapshot: SQLite's online backup API)."""
        self._conn.backup(target)

    # -- the vectors file ----------------------------------------------------------------------------------

    def read_vectors(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Raw vectors by row, read with ``pread`` (runs of consecutive rows at once).

        Not a memory map: page faults map whole read-ahead windows, so random rows of a large file would
        fill the resident set with pages nobody asked for.
        """
        ids = np.asarray(ids, dtype=np.int64)
        fd, count, dim = self.vectors_file()
        if len(ids) and (ids.min() < 0 or ids.max() >= count):
            raise short_vectors(self.location, str(self.meta()["vectors_file"]), count, int(ids.max()) + 1)
        out = np.empty((len(ids), dim), dtype=np.float32)
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
        row = 4 * dim
        for a, b in zip(starts, [*starts[1:], len(ordered)], strict=True):
            data = os.pread(fd, int(b - a) * row, int(ordered[a]) * row)
            out[order[a:b]] = np.frombuffer(data, dtype=np.float32).reshape(int(b - a), dim)
        return out

    def vectors_file(self) -> tuple[int, int, int]:
        """``(open descriptor, committed rows, dim)`` of the current vectors file (reopened after a
        compaction renamed it)."""
        meta = self.meta()
        name, count, dim = str(meta["vectors_file"]), int(meta["vectors_count"]), int(meta["dim"])
        with self.lock:
            if self._vectors is not None and self._vectors[0] == name:
                return self._vectors[1], count, dim
            path = self.location / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                fd = -1
            have = os.fstat(fd).st_size // (4 * dim) if fd >= 0 else -1
            if have < count:
                if fd >= 0:
                    os.close(fd)
                raise short_vectors(self.location, name, have, count)
            if self._vectors is not None:
                os.close(self._vectors[1])
            self._vectors = (name, fd)
            return fd, count, dim
