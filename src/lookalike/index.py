"""The collection store: every image of a folder embedded once, kept in step with the folder, searchable.

:func:`index_folder` embeds a folder's images into an index and, on later runs, only the files that are
new or changed; :class:`Index` opens one to search it (by image file, indexed path, PIL image or vector),
read its rows and vectors, or describe it. Nothing runs as a server: an index is a folder, by default
``PHOTOS/.lookalike``, holding

* ``index.db`` — SQLite in WAL mode: a row per image file (path relative to the indexed folder, size,
  mtime, SHA-256 of the content, width × height, row of its vector, status ``ok`` or ``failed`` with the
  reason) and a ``meta`` table: what made the vectors (:meth:`Embedder.describe`: model, weights
  fingerprint, preprocessing, precision), the folder, the vectors file and how many of its rows are
  committed, and the search structure;
* ``vectors-<id>.f32`` — the raw float32 feature vectors, ``dim`` per row, append-only (L1, MSE and L2
  re-ranking need raw vectors; cosine and NCC do not care about scale);
* ``search-<id>.faiss`` — the search structure over the L2-normalised vectors (:mod:`lookalike.search`);
* ``index.db.good`` — the last good copy of ``index.db``, saved after every run that changed the index
  and put back when ``index.db`` is damaged or gone (:mod:`lookalike.storage`);
* ``lock`` — held by the one process that writes.

Crash safety (kill -9 at any moment, then run again: the result equals an uninterrupted run):

1. vectors are appended past the committed row count and fsynced *before* the transaction that inserts
   the rows pointing at them and raises the count commits; rows past the count are orphans, cut off when
   a writer opens the file, so a crash can leave neither a row without its vector nor a vector twice;
2. a row changes only in a transaction that also holds its new vector row, stat and hash, so a file
   interrupted half-way is seen as changed again on the next run; deletions, renames and touched files
   commit in one transaction before embedding starts;
3. a new search structure or a compacted vectors file is written under a new name and fsynced, then one
   transaction points the meta table at it, then the old file is deleted; files that no committed row
   points at are removed when a writer opens the index;
4. the search structure is a cache: rows committed after it was written are added on open, vectors no
   longer referenced by a row are filtered from results, and a missing or unreadable structure is rebuilt
   from the committed rows.

>>> from lookalike.features import Embedder
>>> report = index_folder("photos", Embedder("../shared/models/resnet18-cifar10.pt"))  # doctest: +SKIP
>>> with Index.open(find_index("photos")) as idx:  # doctest: +SKIP
...     [(h.path.name, round(h.score, 3)) for h in idx.search("photos/cat.jpg", k=2).hits]
[('cat-2.jpg', 0.981), ('cat-7.jpg', 0.954)]
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from lookalike import storage
from lookalike.errors import ImageError, LookalikeError, StoreError
from lookalike.hashing import file_sha256
from lookalike.metrics import SEARCH_METRICS
from lookalike.onnx_backend import INDEX_MODEL_NAME, SAME_MODEL
from lookalike.collection.ann import FLAT_MAX, Structure, build, choose_structure, chunk_rows, unit

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from lookalike.features import Backend, Embedder
    from lookalike.onnx_backend import OnnxModel

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

#: The hidden folder an index lives in, inside the indexed folder.
INDEX_DIRNAME = ".lookalike"
#: ``--metric`` values: cosine ranks by the search structure; the others re-rank its top candidates.
#: Progress callback: ``(phase, done, total)`` with phase ``scan``, ``hash``, ``embed`` or ``search``.
Progress = Callable[[str, int, int], None]

FORMAT = "lookalike-index"
FORMAT_VERSION = 1
DB_NAME = "index.db"
_LOCK_NAME = "lock"
# Settings of what made the vectors that must match for vectors to be comparable are those a model file
# must agree on (onnx_backend.SAME_MODEL); precision need not: bf16, fp16 and fp32 vectors of the same
# weights agree to cosine ≥ 0.999.
_PREPROCESSING = ("crop_size", "resize_size", "mean", "std", "interpolation")
_INSIDE = "SELECT COUNT(*) FROM images WHERE status = 'ok' AND vector <= ?"
_FLUSH_ROWS = 4096
_FLUSH_SECONDS = 2.0
_HASH_THREADS = 2
_HASH_AHEAD = 512
_REBUILD_DEAD = 0.10  # rebuild an approximate structure once this fraction of its vectors is dead
_COMPACT_DEAD = 0.25  # rewrite the vectors file once this fraction of its rows is dead …
_COMPACT_MIN = 10_000  # … and there are at least this many dead rows

_SCHEMA = """
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
_COLUMNS = "id, path, size, mtime_ns, sha256, width, height, vector, status, error"


# ----------------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Entry:
    """One image file of an index: ``path`` is relative to the indexed folder, ``/``-separated.

    ``vector`` is the row of its vector in the vectors file (``None`` unless ``status`` is ``ok``);
    ``error`` says why a ``failed`` file could not be embedded.
    """

    path: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    width: int | None = None
    height: int | None = None
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    vector: int | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(
        id=row[0],
        path=row[1],
        size=row[2],
        mtime_ns=row[3],
        sha256=row[4],
        width=row[5],
        height=row[6],
        vector=row[7],
        status=row[8],
        error=row[9],
    )


@dataclass(frozen=True)
class Failure:
    """A file (or a folder that could not be listed) skipped by :func:`index_folder`, and why."""

    path: str
    reason: str
    kind: Literal["file", "folder"] = "file"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UpdateReport:
    """What :func:`index_folder` did.

    ``new`` and ``changed`` files were embedded (``changed`` replaced an older vector), ``moved`` files
    took over the vector of a removed file with the same content, ``unchanged`` ones were kept (a file
    whose mtime changed but whose content did not counts here), ``removed`` rows belonged to files that
    are gone, and ``failed`` lists the files and folders that were skipped, with reasons. ``images`` is
    the number of searchable images afterwards.
    """

    location: Path
    root: Path
    new: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[Failure] = field(default_factory=list)
    images: int = 0
    created: bool = False
    rebuilt: bool = False
    restored: str | None = None
    repaired: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    search: dict[str, Any] | None = None

    @property
    def embedded(self) -> int:
        return self.new + self.changed

    @property
    def images_per_s(self) -> float | None:
        """Files embedded per second of the embedding phase (decode + model + hashing + storing)."""
        return self.embedded / self.embed_seconds if self.embedded and self.embed_seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": str(self.location),
            "root": str(self.root),
            "new": self.new,
            "changed": self.changed,
            "moved": self.moved,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [f.to_dict() for f in self.failed],
            "images": self.images,
            "created": self.created,
            "rebuilt": self.rebuilt,
            "restored": self.restored,
            "repaired": self.repaired,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "images_per_s": None if self.images_per_s is None else round(self.images_per_s, 1),
            "search": self.search,
        }


@dataclass(frozen=True)
class Hit:
    """One search result: ``path`` is the file (indexed folder joined with ``relpath``)."""

    rank: int
    score: float
    path: Path
    relpath: str
    width: int | None
    height: int | None
    size: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": self.score,
            "path": str(self.path),
            "relpath": self.relpath,
            "width": self.width,
            "height": self.height,
            "size": self.size,
        }


@dataclass
class SearchResult:
    """The ``k`` best hits for a query, best first, and how they were found.

    ``query_kind`` is ``indexed`` (the stored vector of an indexed file, which is left out of the hits),
    ``file`` (an image file embedded now), ``image`` or ``vector``. ``candidates`` is the number of
    cosine candidates re-ranked by ``metric`` (``None`` for cosine itself).
    """

    query: str
    query_kind: Literal["indexed", "file", "image", "vector"]
    metric: str
    higher_is_better: bool
    hits: list[Hit]
    structure: str
    exact: bool
    candidates: int | None
    index: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "query_kind": self.query_kind,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "structure": self.structure,
            "exact": self.exact,
            "candidates": self.candidates,
            "index": str(self.index),
            "hits": [h.to_dict() for h in self.hits],
        }


# ----------------------------------------------------------------------------------------------------------
# Locations and what made the vectors


def default_location(folder: str | os.PathLike[str]) -> Path:
    """Where :func:`index_folder` keeps the index of ``folder`` unless told otherwise."""
    return Path(folder) / INDEX_DIRNAME


def find_index(start: str | os.PathLike[str] = ".") -> Path:
    """The index for ``start``: an index folder itself, else ``.lookalike`` in ``start`` (or, for a file,
    its folder) or the nearest parent folder that has one.

    Raises :class:`StoreError` when there is none.
    """
    given = Path(start)
    names = (DB_NAME, storage.COPY_NAME)  # a catalogue, or its last good copy (then Index.open says so)
    if any((given / name).is_file() for name in names):
        return given
    folder = given if given.is_dir() else given.parent
    for candidate in [folder.absolute(), *folder.absolute().parents]:
        if any((candidate / INDEX_DIRNAME / name).is_file() for name in names):
            return candidate / INDEX_DIRNAME
    raise StoreError(
        f"no lookalike index in {given} or the folders above it; build one with "
        f"`lookalike index FOLDER`, or pass --index DIR"
    )


def embedder_meta(embedder: Embedder) -> dict[str, Any]:
    """:meth:`Embedder.describe` with random weights fingerprinted by their values (two random models
    differ) and the weights file's absolute location, so that a query can be embedded again later."""
    d = dict(embedder.describe())
    if d.get("fingerprint") == "random":
        h = hashlib.sha256()
        for name, tensor in sorted(embedder.model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        d["fingerprint"] = "random:" + h.hexdigest()[:32]
    source = str(d.get("weights", ""))
    if source.startswith("file:"):
        d["weights_location"] = str(Path(source.removeprefix("file:")).expanduser().resolve())
    return d


def _describe_model(d: dict[str, Any]) -> str:
    fp = str(d.get("fingerprint", ""))
    short = fp if len(fp) <= 24 else fp[:23] + "…"
    stem = ", CIFAR stem" if d.get("cifar_stem") else ""
    return f"{d.get('model')}{stem} ({d.get('weights')}, {short}, {d.get('crop_size')} px input)"


def _check_same_vectors(stored: dict[str, Any], asked: dict[str, Any], location: Path) -> None:
    differ = [k for k in SAME_MODEL if stored.get(k) != asked.get(k)]
    if differ:
        raise StoreError(
            f"{location} holds vectors made by {_describe_model(stored)}, but {_describe_model(asked)} "
            f"was asked for ({', '.join(differ)} differ); pass --index OTHER for a separate index, or "
            "--rebuild to replace this one"
        )


# ----------------------------------------------------------------------------------------------------------
# Files on disk


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _new_name(prefix: str, suffix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}{suffix}"


@contextlib.contextmanager
def _write_lock(location: Path) -> Iterator[None]:
    """One writer per index: an exclusive ``flock`` on ``location/lock`` (released by the OS on a crash)."""
    location.mkdir(parents=True, exist_ok=True)
    fd = os.open(location / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise StoreError(
                f"another lookalike process (pid {holder}) is updating {location}; wait for it to "
                "finish, or pass --index OTHER"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _inspect(path: Path) -> tuple[str | None, int | None, int | None]:
    """``(sha256, width, height)`` of a file; ``None`` where it cannot be read (the embedding reports why)."""
    from lookalike.images import image_size

    try:
        sha: str | None = file_sha256(path)
    except OSError:
        sha = None
    try:
        width, height = image_size(path)
    except (ImageError, OSError, ValueError):
        return sha, None, None
    return sha, width, height


def _file_error(path: Path, exc: BaseException | None = None) -> str:
    """One line saying why ``path`` cannot be read, in :func:`lookalike.images.load_image`'s words."""
    from lookalike.images import image_size

    try:
        image_size(path)
    except ImageError as error:
        return str(error)
    except Exception as error:
        return f"{path}: cannot read ({error})"
    return f"{path}: cannot read ({exc})" if exc else f"{path}: changed while it was being indexed"


# ----------------------------------------------------------------------------------------------------------
# The index


class Index:
    """An open index: rows, vectors and search. Open with :meth:`open` (after :func:`find_index`), build and
    update with :func:`index_folder`. Safe to share between threads; use as a context manager or
    :meth:`close` it.

    >>> with Index.open("photos/.lookalike") as idx:  # doctest: +SKIP
    ...     idx.count, idx.dim
    (2000, 512)
    """

    def __init__(self, location: Path, conn: sqlite3.Connection) -> None:
        self.location = location
        self._conn = conn
        self._lock = threading.RLock()
        self._vectors: tuple[str, int] | None = None  # (vectors file name, open descriptor)
        # ((vectors file, search file), structure, highest vector row in it)
        self._structure: tuple[tuple[str, str | None], Structure | None, int] | None = None
        self._checked: tuple[tuple[int, int], int] | None = None  # (database version, dead vectors)
        self._catalogue = storage.file_id(location / DB_NAME)  # reopened once another file replaces it
        self._embedder: Embedder | None = None
        self._query_model: OnnxModel | None = None
        self.query_backend: str | None = None  # what embedded the last query by image: onnx or torch
        meta = self.meta()
        if meta.get("format") != FORMAT or int(meta.get("version", 0)) > FORMAT_VERSION:
            conn.close()
        if meta.get("format") != FORMAT:
            raise StoreError(
                f"{location} is not a complete lookalike index (it was interrupted while being created, "
                "or was written by another program); run `lookalike index` again with --rebuild"
            )
        if int(meta.get("version", 0)) > FORMAT_VERSION:
            raise StoreError(
                f"{location} was written by a newer lookalike (format {meta.get('version')}); "
                "upgrade lookalike or rebuild the index with --rebuild"
            )

    # -- opening ------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, location: str | os.PathLike[str]) -> Index:
        """Open the index in folder ``location`` (see :func:`find_index` to find it from a photo folder)."""
        loc = Path(location)
        if not (loc / DB_NAME).is_file() and (loc / storage.COPY_NAME).is_file():
            raise storage.damaged(loc, "", missing=True)
        if not (loc / DB_NAME).is_file():
            raise StoreError(
                f"{loc} is not a lookalike index (no {DB_NAME} in it); build one with "
                "`lookalike index FOLDER` or pass the right --index DIR"
            )
        return cls(loc, _connect(loc / DB_NAME))

    @classmethod
    def create(
        cls, location: str | os.PathLike[str], *, root: str | os.PathLike[str], embedder: dict[str, Any]
    ) -> Index:
        """Create an empty index in ``location`` for the folder ``root``; ``embedder`` is
        :func:`embedder_meta` of the embedder that will make its vectors. Call with the write lock held."""
        loc = Path(location)
        loc.mkdir(parents=True, exist_ok=True)
        for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            (loc / name).unlink(missing_ok=True)
        vectors = _new_name("vectors", ".f32")
        with (loc / vectors).open("wb") as f:
            _fsync(f.fileno())
        conn = _connect(loc / DB_NAME)
        root_abs = Path(root).absolute()
        now = time.time()
        with _transaction(conn):
            _set_meta(
                conn,
                format=FORMAT,
                version=FORMAT_VERSION,
                root=str(root_abs),
                root_relative=os.path.relpath(root_abs, loc.absolute()),
                embedder=embedder,
                precisions=[embedder.get("precision")],
                dim=int(embedder["dim"]),
                vectors_file=vectors,
                vectors_count=0,
                search=None,
                created=now,
                updated=now,
            )
        storage.fsync_path(loc)
        return cls(loc, conn)

    def close(self) -> None:
        with self._lock:
            if self._vectors is not None:
                os.close(self._vectors[1])
                self._vectors = None
            self._structure = None
            self._conn.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts --------------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The ``meta`` table as a dict (JSON values decoded)."""
        with self._lock:
            self._follow_catalogue()
            try:
                rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            except sqlite3.DatabaseError as exc:
                raise _damaged(self.location, exc) from None
        return {k: json.loads(v) for k, v in rows}

    def _follow_catalogue(self) -> None:
        """Reopen ``index.db`` when `lookalike index` put another file in its place (restored its last good
        copy, or rebuilt it), so that a long-running reader (``serve``) answers from it without a restart."""
        now = storage.file_id(self.location / DB_NAME)
        if now is None or now == self._catalogue:
            return
        try:
            conn = _connect(self.location / DB_NAME)
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
        self._structure = self._checked = None

    @property
    def root(self) -> Path:
        """The indexed folder (found beside the index if both moved together)."""
        meta = self.meta()
        beside = self.location.absolute() / meta.get("root_relative", "..")
        if beside.is_dir():
            return Path(os.path.normpath(beside))
        return Path(meta["root"])

    @property
    def dim(self) -> int:
        return int(self.meta()["dim"])

    @property
    def made_by(self) -> dict[str, Any]:
        """What made the vectors (:func:`embedder_meta` of the embedder that built the index)."""
        return dict(self.meta()["embedder"])

    @property
    def count(self) -> int:
        """Searchable images (rows with status ``ok``)."""
        return self._scalar("SELECT COUNT(*) FROM images WHERE status = 'ok'")

    @storage.translated
    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._lock:
            self._follow_catalogue()
            return int(self._conn.execute(sql, args).fetchone()[0] or 0)

    @storage.translated
    def entries(self, status: Literal["ok", "failed", "all"] = "ok") -> Iterator[Entry]:
        """Rows in path order (streamed; fine for millions)."""
        where = "" if status == "all" else f"WHERE status = '{status}'"
        last = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM images {where} {'AND' if where else 'WHERE'} path > ? "
                    "ORDER BY path LIMIT 10000",
                    (last,),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            last = rows[-1][1]

    @storage.translated
    def entry(self, path: str | os.PathLike[str]) -> Entry | None:
        """The row of an indexed file, by path relative to the folder (or any path that resolves into it)."""
        rel = self.relpath(path)
        if rel is None:
            return None
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM images WHERE path = ?", (rel,)).fetchone()
        return _entry(row) if row else None

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
        with self._lock:
            for rel in candidates:
                if self._conn.execute("SELECT 1 FROM images WHERE path = ?", (rel,)).fetchone():
                    return rel
        return None

    @storage.translated
    def vectors(self, entries: Sequence[Entry]) -> npt.NDArray[np.float32]:
        """Raw vectors of ``entries`` (which must have status ``ok``), as an N×dim float32 array."""
        ids = np.array([e.vector for e in entries], dtype=np.int64)
        if any(e.vector is None for e in entries):
            bad = next(e for e in entries if e.vector is None)
            raise StoreError(f"{bad.path} has no vector ({bad.status}: {bad.error})")
        return self._read_vectors(ids)

    def current_vectors(
        self, paths: Sequence[str | os.PathLike[str]], embedder: Embedder
    ) -> npt.NDArray[np.float32] | None:
        """The stored vectors of ``paths``, one row each in their order, when this index was made by
        ``embedder``'s model, weights and preprocessing and every file is indexed and unchanged since (same
        size and modification time); otherwise ``None`` — embed them instead (or update the index first).
        A file the index could not read (and that is unchanged since) gets a row of zeros: it matches
        nothing, as :func:`lookalike.dedup.find_duplicates` does with a file the network cannot read."""
        try:
            _check_same_vectors(self.made_by, embedder_meta(embedder), self.location)
        except StoreError:
            return None
        entries = []
        for path in paths:
            e = self.entry(path)
            if e is None or (e.status == "ok") != (e.vector is not None):
                return None
            try:
                st = Path(path).stat()
            except OSError:
                return None
            if (st.st_size, st.st_mtime_ns) != (e.size, e.mtime_ns):
                return None
            entries.append(e)
        if not entries:
            return None
        out = np.zeros((len(entries), self.dim), dtype=np.float32)
        ok = [i for i, e in enumerate(entries) if e.vector is not None]
        if ok:
            out[ok] = self.vectors([entries[i] for i in ok])
        return out

    def iter_vectors(self, batch: int = 65_536) -> Iterator[tuple[list[Entry], npt.NDArray[np.float32]]]:
        """All searchable rows with their raw vectors, ``batch`` at a time, in path order."""
        chunk: list[Entry] = []
        for entry in self.entries("ok"):
            chunk.append(entry)
            if len(chunk) == batch:
                yield chunk, self.vectors(chunk)
                chunk = []
        if chunk:
            yield chunk, self.vectors(chunk)

    def _read_vectors(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Raw vectors by row, read with ``pread`` (runs of consecutive rows at once).

        Not a memory map: page faults map whole read-ahead windows, so random rows of a large file would
        fill the resident set with pages nobody asked for.
        """
        ids = np.asarray(ids, dtype=np.int64)
        fd, count, dim = self._vectors_file()
        if len(ids) and (ids.min() < 0 or ids.max() >= count):
            raise storage.short_vectors(
                self.location, str(self.meta()["vectors_file"]), count, int(ids.max()) + 1
            )
        out = np.empty((len(ids), dim), dtype=np.float32)
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
        row = 4 * dim
        for a, b in zip(starts, [*starts[1:], len(ordered)], strict=True):
            data = os.pread(fd, int(b - a) * row, int(ordered[a]) * row)
            out[order[a:b]] = np.frombuffer(data, dtype=np.float32).reshape(int(b - a), dim)
        return out

    def _vectors_file(self) -> tuple[int, int, int]:
        """``(open descriptor, committed rows, dim)`` of the current vectors file (reopened after a
        compaction renamed it)."""
        meta = self.meta()
        name, count, dim = str(meta["vectors_file"]), int(meta["vectors_count"]), int(meta["dim"])
        with self._lock:
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
                raise storage.short_vectors(self.location, name, have, count)
            if self._vectors is not None:
                os.close(self._vectors[1])
            self._vectors = (name, fd)
            return fd, count, dim

    @storage.translated
    def info(self) -> dict[str, Any]:
        """Everything ``lookalike info`` shows: counts, model, structure, sizes on disk, times."""
        meta = self.meta()
        d = meta["embedder"]
        live = self.count
        failed = self._scalar("SELECT COUNT(*) FROM images WHERE status = 'failed'")
        search = meta.get("search")
        structure: dict[str, Any] | None = None
        if search:
            max_vid = int(search["max_vector"])
            inside = self._scalar(_INSIDE, (max_vid,))
            structure = {
                **{k: v for k, v in search.items() if k not in ("file", "max_vector")},
                "pending": live - inside,
                "dead": int(search["ntotal"]) - inside,
            }
        sizes = {
            "database": sum(_size(self.location / n) for n in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")),
            "vectors": _size(self.location / meta["vectors_file"]),
            "search": _size(self.location / search["file"]) if search else 0,
        }
        sizes["total"] = sum(sizes.values())
        return {
            "location": str(self.location.absolute()),
            "root": str(self.root),
            "images": live,
            "failed": failed,
            "dim": int(meta["dim"]),
            "model": d.get("model"),
            "cifar_stem": d.get("cifar_stem"),
            "weights": d.get("weights"),
            "weights_location": d.get("weights_location"),
            "fingerprint": d.get("fingerprint"),
            "precision": ", ".join(p for p in meta.get("precisions", []) if p),
            "backend": (meta.get("last_run") or {}).get("backend") or d.get("backend") or "torch",
            "model_file": _size(self.location / INDEX_MODEL_NAME) or None,
            "preprocessing": {k: d.get(k) for k in _PREPROCESSING},
            "vectors_rows": int(meta["vectors_count"]),
            "dead_vectors": int(meta["vectors_count"]) - live,
            "search": structure,
            "disk_bytes": sizes,
            "created": meta.get("created"),
            "updated": meta.get("updated"),
            "last_run": meta.get("last_run"),
        }

    @contextlib.contextmanager
    def writer(self, **kw: Any) -> Iterator[Writer]:
        """Hold the index's write lock and a :class:`Writer`; buffered rows are committed on exit.

        >>> with idx.writer() as w:  # doctest: +SKIP
        ...     w.put([Entry("a.jpg", 10, 0, None)], vectors)
        ...     w.refresh_search()
        """
        with _write_lock(self.location):
            w = Writer(self, **kw)
            try:
                yield w
                w.flush()
            finally:
                w.close()

    # -- embedding queries --------------------------------------------------------------------------------

    def weights_source(self) -> str:
        """What to pass as ``weights`` to make this index's vectors again: the weights file it was built
        with, or the torchvision weights name. Raises :class:`StoreError` for random weights or a weights
        file that is gone."""
        d = self.made_by
        source = str(d.get("weights", ""))
        if str(d.get("fingerprint", "")).startswith("random"):
            raise StoreError(
                f"{self.location} was built with random weights (--weights none), which cannot be made "
                "again to embed a new image; query by an indexed path, or rebuild the index with "
                "real weights"
            )
        if source.startswith("file:"):
            path = str(d.get("weights_location") or source.removeprefix("file:"))
            if not Path(path).is_file():
                raise StoreError(
                    f"{self.location} was built with the weights file {path}, which is gone; pass "
                    f"--weights PATH to that file ({d.get('fingerprint')})"
                )
            return path
        return source.removeprefix("torchvision:")

    def embedder(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        backend: Backend = "auto",
    ) -> Embedder:
        """An :class:`Embedder` that makes vectors comparable with this index's (the same model, weights and
        preprocessing). ``weights`` points at the weights file if it moved since indexing. The last one
        built is kept: later calls without arguments (and :meth:`search`) use it."""
        from lookalike.features import Embedder

        if self._embedder is not None and weights is None and device is None and backend == "auto":
            return self._embedder
        d = self.made_by
        if weights is None:
            weights = self.weights_source()
        precision: Any = d.get("precision") or "auto"
        try:
            emb = Embedder(
                weights,
                model=d.get("model"),
                size=d.get("crop_size"),
                device=device,
                precision=precision,
                backend=backend,
            )
        except LookalikeError:
            emb = Embedder(
                weights, model=d.get("model"), size=d.get("crop_size"), device=device, backend=backend
            )
        _check_same_vectors(d, embedder_meta(emb), self.location)
        if emb.backend == "onnx":  # exported into the index's folder: later queries need no torch
            emb.use_model_file(self.location / INDEX_MODEL_NAME, d)
        self._embedder = emb
        return emb

    def query_model(self, *, threads: int | None = None) -> OnnxModel | None:
        """The index's own ONNX model (``model.onnx`` in its folder) if it is there and makes this index's
        vectors, else ``None``. With it, queries by image run Pillow, NumPy and ONNX Runtime: no torch.
        ``threads`` is ONNX Runtime's thread count (default one per core), set by the first call."""
        from lookalike.onnx_backend import find_model

        if self._query_model is None:
            self._query_model = find_model(self.location / INDEX_MODEL_NAME, self.made_by, threads=threads)
        return self._query_model

    def _embed_query(self, image: str | os.PathLike[str] | Image.Image) -> npt.NDArray[np.float32]:
        """One image's raw vector: by :meth:`query_model` unless :meth:`embedder` was set up (or there is
        no exported model yet: then the embedder exports one into the index, once)."""
        own = self._embedder is None or self._embedder.backend == "onnx"  # the same vectors either way
        if own and (model := self.query_model()) is not None:
            vec: npt.NDArray[np.float32] = model.embed([image])[0]
            self.query_backend = "onnx"
            return vec
        emb = self.embedder()
        self.query_backend = emb.backend
        return emb.embed([image])[0].numpy().astype(np.float32)

    # -- search -------------------------------------------------------------------------------------------

    def query_vector(
        self, query: str | os.PathLike[str] | Image.Image | torch.Tensor | npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], Literal["indexed", "file", "image", "vector"], str | None]:
        """``(raw vector, kind, indexed path or None)`` for a query: an indexed path (its stored vector,
        unless the file changed since), an image file or a PIL image (embedded now by :meth:`embedder`),
        or a vector."""
        if isinstance(query, (str, os.PathLike)):
            path = Path(query)
            entry = self.entry(path)
            if entry is not None and entry.status == "ok" and entry.vector is not None:
                on_disk = self.root / entry.path
                try:
                    st = on_disk.stat()
                    fresh = (st.st_size, st.st_mtime_ns) == (entry.size, entry.mtime_ns)
                except OSError:
                    fresh = True  # gone since indexing: the stored vector is all there is
                if fresh or not path.is_file():
                    return self.vectors([entry])[0], "indexed", entry.path
            if path.is_file():
                return self._embed_query(path), "file", entry.path if entry else None
            if entry is not None:
                raise StoreError(f"{query}: indexed but failed ({entry.error}); query another image")
            raise StoreError(
                f"{query}: no such image file, and not a path indexed in {self.location}; pass an "
                "image file or a path inside the indexed folder"
            )
        try:
            from PIL import Image as PILImage

            if isinstance(query, PILImage.Image):
                return self._embed_query(query), "image", None
        except ImportError:  # pragma: no cover
            pass
        arr = np.asarray(query.detach().cpu() if hasattr(query, "detach") else query, dtype=np.float32)
        if arr.ndim != 1 or arr.shape[0] != self.dim:
            raise StoreError(f"a query vector must have {self.dim} values, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise StoreError("the query vector contains NaN or inf")
        return arr, "vector", None

    @storage.translated
    def search(
        self,
        query: str | os.PathLike[str] | Image.Image | torch.Tensor | npt.ArrayLike,
        *,
        k: int = 10,
        metric: str = "cosine",
        candidates: int | None = None,
        include_self: bool = False,
    ) -> SearchResult:
        """The ``k`` indexed images most like ``query`` (see :meth:`query_vector` for what it may be).

        ``metric`` is ``cosine`` (the search structure's order), or ``l2``, ``l1``, ``mse`` or ``ncc``
        computed on the raw vectors of the ``candidates`` best by cosine (default ``max(10·k, 100)``) to
        re-rank them. An indexed query's own row is left out unless ``include_self``.
        """
        metric = metric.lower()
        if metric not in SEARCH_METRICS:
            raise StoreError(f"unknown metric {metric!r}; choose one of: {', '.join(SEARCH_METRICS)}")
        if k < 1:
            raise StoreError(f"k must be at least 1, got {k}")
        vec, kind, own = self.query_vector(query)
        skip = None if include_self else own
        pool = k if metric == "cosine" else max(candidates or max(10 * k, 100), k)
        scores, entries, structure = self._nearest(unit(vec)[0], pool, skip)
        higher = True
        if metric != "cosine" and entries:
            from lookalike.metrics import METRICS  # torch: only for re-ranking

            raw = self.vectors(entries)
            if metric == "l2":
                values = np.sqrt(METRICS["mse"].fn(vec, raw).numpy().astype(np.float64) * len(vec))
                higher = False
            else:
                m = METRICS[metric]
                values = m.fn(vec, raw).numpy().astype(np.float64)
                higher = m.higher_is_better
            order = np.argsort(-values if higher else values, kind="stable")[:k]
            scores = [float(values[i]) for i in order]
            entries = [entries[i] for i in order]
        root = self.root
        hits = [
            Hit(rank, float(s), root / e.path, e.path, e.width, e.height, e.size)
            for rank, (s, e) in enumerate(zip(scores[:k], entries[:k], strict=True), start=1)
        ]
        label = str(query) if kind in ("indexed", "file") else kind
        return SearchResult(
            query=label,
            query_kind=kind,
            metric=metric,
            higher_is_better=higher,
            hits=hits,
            structure=structure.plan.factory if structure else "empty",
            exact=bool(structure and structure.plan.exact),
            candidates=None if metric == "cosine" else pool,
            index=self.location,
        )

    @storage.translated
    def search_batch(
        self, queries: npt.ArrayLike, *, k: int = 10, skip: Sequence[str | None] | None = None
    ) -> list[list[tuple[float, Entry]]]:
        """Cosine top-``k`` ``(score, entry)`` lists for many raw query vectors (N×dim), searched together;
        ``skip[i]`` is a stored path to leave out of row ``i`` (e.g. the query's own, for neighbour graphs).

        >>> entries, vectors = next(idx.iter_vectors())  # doctest: +SKIP
        >>> neighbours = idx.search_batch(vectors, k=5, skip=[e.path for e in entries])  # doctest: +SKIP
        """
        q = unit(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        if skip is not None and len(skip) != len(q):
            raise ValueError(f"{len(skip)} skip paths for {len(q)} queries")
        structure, dead = self._searchable()
        out: list[list[tuple[float, Entry]]] = []
        if structure is None or structure.ntotal == 0:
            return [[] for _ in range(len(q))]
        fetch = min(structure.ntotal, k + 1 + dead)
        for start in range(0, len(q), 1024):
            part = q[start : start + 1024]
            scores, ids = structure.search(part, fetch)
            rows = self._rows_for(sorted({int(i) for i in ids.ravel() if i >= 0}))
            for r in range(len(part)):
                own = skip[start + r] if skip is not None else None
                hits = [
                    (float(s), rows[int(i)])
                    for s, i in zip(scores[r], ids[r], strict=True)
                    if int(i) in rows and rows[int(i)].path != own
                ][:k]
                if len(hits) < k and fetch < structure.ntotal and bool((ids[r] >= 0).all()):
                    found_s, found_e, _ = self._nearest(part[r], k, own)  # many dead: fetch more
                    hits = list(zip(found_s, found_e, strict=True))
                out.append(hits)
        return out

    def _nearest(
        self, q: npt.NDArray[np.float32], k: int, skip: str | None
    ) -> tuple[list[float], list[Entry], Structure | None]:
        """Cosine top-``k`` live rows for unit vector ``q``, over-fetching past dead vectors and ``skip``."""
        structure, dead = self._searchable()
        if structure is None or structure.ntotal == 0:
            return [], [], structure
        want = k + (1 if skip is not None else 0)
        fetch = min(structure.ntotal, want + dead)
        while True:
            scores, ids = structure.search(q[None, :], fetch)
            found = [int(i) for i in ids[0] if i >= 0]
            rows = self._rows_for(found)
            out_s, out_e = [], []
            for s, i in zip(scores[0], ids[0], strict=True):
                e = rows.get(int(i))
                if e is not None and e.path != skip:
                    out_s.append(float(s))
                    out_e.append(e)
            if len(out_e) >= k or fetch >= structure.ntotal or len(found) < fetch:
                return out_s[:k], out_e[:k], structure
            fetch = min(structure.ntotal, 2 * fetch)

    def _rows_for(self, vids: Sequence[int]) -> dict[int, Entry]:
        out: dict[int, Entry] = {}
        with self._lock:
            for start in range(0, len(vids), 900):
                part = vids[start : start + 900]
                marks = ",".join("?" * len(part))
                for row in self._conn.execute(
                    f"SELECT {_COLUMNS} FROM images WHERE status = 'ok' AND vector IN ({marks})", part
                ):
                    out[int(row[7])] = _entry(row)
        return out

    def _searchable(self) -> tuple[Structure | None, int]:
        """The search structure with every committed row in it, and how many dead vectors it holds.

        Loaded from its file once, then kept: rows committed since are added, a missing or unreadable
        file is replaced by a structure built in memory from the rows. Costs one query while nothing
        was committed since the last call.
        """
        with self._lock:
            version = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._conn.total_changes)
            if self._checked is not None and self._checked[0] == version and self._structure is not None:
                return self._structure[1], self._checked[1]
            for attempt in range(3):
                meta = self.meta()
                search = meta.get("search")
                key = (str(meta["vectors_file"]), search["file"] if search else None)
                cached = self._structure
                if cached is not None and cached[0] == key and (cached[1] is not None or not self.count):
                    break
                structure: Structure | None = None
                max_vid = -1
                if search:
                    try:
                        structure = Structure.load(self.location / search["file"], search)
                        max_vid = int(search["max_vector"])
                    except Exception:  # missing, truncated or foreign
                        if attempt < 2 and self.meta().get("search") != search:
                            continue  # a writer replaced it meanwhile: load the new one
                if structure is None and self.count:  # rebuilt from the rows
                    structure, max_vid = _build_structure(self, meta.get("search_config") or {})
                cached = (key, structure, max_vid)
                break
            assert cached is not None
            key, structure, max_vid = cached
            if structure is not None:
                structure.refine = self._read_vectors
                pending = self._live_vids(after=max_vid)
                if len(pending):
                    structure.add(pending, self._read_vectors(pending))
                    max_vid = int(pending[-1])
            self._structure = (key, structure, max_vid)
            dead = 0 if structure is None else structure.ntotal - self._scalar(_INSIDE, (max_vid,))
            self._checked = (version, dead)
            return structure, dead

    def _live_vids(self, after: int = -1) -> npt.NDArray[np.int64]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT vector FROM images WHERE status = 'ok' AND vector > ? ORDER BY vector", (after,)
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _damaged(location: Path, exc: Exception) -> StoreError:
    return storage.explain(exc, location) or storage.damaged(location, exc)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:
            conn.close()
            if not path.is_file() or not any(w in str(exc) for w in ("readonly", "unable to open")):
                raise
            conn = storage.connect_read_only(path)  # enough to search; writes fail with a clear line
    except sqlite3.DatabaseError as exc:
        raise _damaged(path.parent, exc) from None
    return conn


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _set_meta(conn: sqlite3.Connection, **values: Any) -> None:
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(k, json.dumps(v)) for k, v in values.items()],
    )


class _StoreSource:
    """The live vectors of an index as a :class:`lookalike.search.VectorSource` (ids = vector rows)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.ids = index._live_vids()
        self._dim = index.dim

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self.ids)

    def chunks(self, rows: int) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        meta = self.index.meta()
        path = self.index.location / meta["vectors_file"]
        count = int(meta["vectors_count"])
        with path.open("rb") as f:
            for start in range(0, count, rows):
                stop = min(count, start + rows)
                lo, hi = np.searchsorted(self.ids, [start, stop])
                if lo == hi:
                    continue
                f.seek(start * 4 * self._dim)
                block = np.fromfile(f, dtype=np.float32, count=(stop - start) * self._dim)
                block = block.reshape(stop - start, self._dim)
                ids = self.ids[lo:hi]
                yield ids, block[ids - start]

    def sample(self, count: int, *, seed: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        rows = np.sort(np.random.default_rng(seed).permutation(len(self.ids))[:count])
        ids = self.ids[rows]
        if len(ids) <= 4096:
            return ids, self.index._read_vectors(ids)
        # many rows (k-means training): one sequential pass, so that the file's pages are not all mapped
        out = np.empty((len(ids), self._dim), dtype=np.float32)
        filled = 0
        for chunk_ids, vectors in self.chunks(chunk_rows(self._dim)):
            keep = np.isin(chunk_ids, ids, assume_unique=True)
            n = int(keep.sum())
            out[filled : filled + n] = vectors[keep]
            filled += n
        return ids, out

    def get(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self.index._read_vectors(np.asarray(ids, dtype=np.int64))


def _build_structure(
    index: Index, config: dict[str, Any], progress: Progress | None = None
) -> tuple[Structure, int]:
    """A new search structure over every live vector of ``index``, and the highest vector row in it."""
    source = _StoreSource(index)
    plan = choose_structure(
        len(source),
        source.dim,
        memory_budget=config.get("memory_budget"),
        flat_max=int(config.get("flat_max") or FLAT_MAX),
    )
    tell = (lambda d, t: progress("search", d, t)) if progress else None
    return build(plan, source, progress=tell), int(source.ids[-1])


# ----------------------------------------------------------------------------------------------------------
# Writing


class Writer:
    """Appends rows and vectors to an index crash-safely (see the module docstring). One at a time per
    index: get one from :meth:`Index.writer` (which holds the lock) or :func:`index_folder`.

    Rows are buffered and committed every ``flush_rows`` vectors or ``flush_seconds``, whichever first.
    """

    def __init__(
        self, index: Index, *, flush_rows: int | None = None, flush_seconds: float | None = None
    ) -> None:
        self.index = index
        self.conn = index._conn
        meta = index.meta()
        self.dim = int(meta["dim"])
        self._flush_rows = flush_rows or _FLUSH_ROWS
        self._flush_seconds = _FLUSH_SECONDS if flush_seconds is None else flush_seconds
        self._path = index.location / meta["vectors_file"]
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        self._count = int(meta["vectors_count"])
        have = os.fstat(self._fd).st_size // (4 * self.dim)
        if have < self._count:
            os.close(self._fd)
            raise storage.short_vectors(index.location, self._path.name, have, self._count)
        os.ftruncate(self._fd, self._count * 4 * self.dim)  # orphans of an interrupted run
        self._remove_unreferenced(meta)
        self._buf = np.empty((self._flush_rows, self.dim), dtype=np.float32)
        self._rows: list[Entry] = []
        self._failed: list[Entry] = []
        self._last = time.monotonic()

    def _remove_unreferenced(self, meta: dict[str, Any]) -> None:
        keep = {meta["vectors_file"], (meta.get("search") or {}).get("file")}
        for path in self.index.location.iterdir():
            name = path.name
            if name.startswith(("vectors-", "search-")) and name not in keep:
                path.unlink(missing_ok=True)

    def put(self, entries: Sequence[Entry], vectors: npt.ArrayLike) -> None:
        """Add or replace the rows ``entries`` (by path) with their raw ``vectors`` (N×dim)."""
        vecs = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(vecs) != len(entries):
            raise ValueError(f"{len(entries)} entries for {len(vecs)} vectors")
        start = 0
        while start < len(entries):
            room = self._flush_rows - len(self._rows)
            take = min(room, len(entries) - start)
            self._buf[len(self._rows) : len(self._rows) + take] = vecs[start : start + take]
            self._rows.extend(entries[start : start + take])
            start += take
            if len(self._rows) == self._flush_rows:
                self.flush()
        self._maybe_flush()

    def fail(self, entries: Iterable[Entry]) -> None:
        """Record files that could not be embedded (``status`` failed, ``error`` set); old vectors go."""
        self._failed.extend(entries)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write buffered vectors, fsync them, then commit their rows in one transaction."""
        n = len(self._rows)
        self._last = time.monotonic()
        if not n and not self._failed:
            return
        if n:
            data, at = memoryview(self._buf[:n].tobytes()), self._count * 4 * self.dim
            while data:  # after a short write (disk full, file-size limit) the next one raises the error
                try:
                    written = os.pwrite(self._fd, data, at)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, str(self._path)) from None
                data, at = data[written:], at + written
            _fsync(self._fd)
        now = time.time()
        rows = [
            (e.path, e.size, e.mtime_ns, e.sha256, e.width, e.height, self._count + j, "ok", None, now)
            for j, e in enumerate(self._rows)
        ] + [
            (e.path, e.size, e.mtime_ns, e.sha256, e.width, e.height, None, "failed", e.error, now)
            for e in self._failed
        ]
        with _transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO images(path, size, mtime_ns, sha256, width, height, vector, status, error, "
                "indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, "
                "width = excluded.width, height = excluded.height, vector = excluded.vector, "
                "status = excluded.status, error = excluded.error, indexed_at = excluded.indexed_at",
                rows,
            )
            _set_meta(self.conn, vectors_count=self._count + n)
        self._count += n
        self._rows.clear()
        self._failed.clear()

    def apply(
        self,
        *,
        remove: Iterable[str] = (),
        touch: Iterable[tuple[str, int, int]] = (),
        move: Iterable[tuple[int, str, int, int]] = (),
    ) -> None:
        """In one transaction: delete rows by path, update ``(path, size, mtime_ns)`` of files whose
        content is unchanged, and give row ids new ``(id, path, size, mtime_ns)`` (renamed files)."""
        with _transaction(self.conn):
            self.conn.executemany("DELETE FROM images WHERE path = ?", ((p,) for p in remove))
            self.conn.executemany(
                "UPDATE images SET size = ?, mtime_ns = ? WHERE path = ?", ((s, m, p) for p, s, m in touch)
            )
            self.conn.executemany(
                "UPDATE images SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                ((p, s, m, i) for i, p, s, m in move),
            )

    def set_meta(self, **values: Any) -> None:
        with _transaction(self.conn):
            _set_meta(self.conn, **values)

    def compact(self) -> int:
        """Rewrite the vectors file without dead rows; returns how many rows were dropped."""
        self.flush()
        source = _StoreSource(self.index)
        dead = self._count - len(source)
        if dead <= 0:
            return 0
        name = _new_name("vectors", ".f32")
        path = self.index.location / name
        with path.open("wb") as f:
            for _, vecs in source.chunks(chunk_rows(self.dim)):
                f.write(vecs.tobytes())
            f.flush()
            _fsync(f.fileno())
        storage.fsync_path(self.index.location)
        old_search = (self.index.meta().get("search") or {}).get("file")
        with _transaction(self.conn):
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS remap (old INTEGER PRIMARY KEY, new INTEGER)")
            self.conn.execute("DELETE FROM remap")
            self.conn.executemany(
                "INSERT INTO remap(old, new) VALUES (?, ?)", ((int(v), j) for j, v in enumerate(source.ids))
            )
            self.conn.execute(
                "UPDATE images SET vector = (SELECT new FROM remap WHERE old = images.vector) "
                "WHERE status = 'ok'"
            )
            _set_meta(self.conn, vectors_file=name, vectors_count=len(source), search=None)
        os.close(self._fd)
        old = self._path
        self._path, self._count = path, len(source)
        self._fd = os.open(path, os.O_RDWR)
        old.unlink(missing_ok=True)
        if old_search:
            (self.index.location / old_search).unlink(missing_ok=True)
        return dead

    def refresh_search(
        self,
        *,
        memory_budget: int | None = None,
        flat_max: int = FLAT_MAX,
        progress: Progress | None = None,
        force: bool = False,
    ) -> dict[str, Any] | None:
        """Bring the search structure up to date with the committed rows and save it; returns its
        description. An approximate structure of the planned kind is updated in place (dead vectors
        removed, new ones added); an exact one, or one whose plan changed, is rebuilt."""
        self.flush()
        idx = self.index
        meta = idx.meta()
        config = {"memory_budget": memory_budget, "flat_max": flat_max}
        live = idx._live_vids()
        current = meta.get("search")
        if not len(live):
            self._point_search(None, meta, config)
            return None
        plan = choose_structure(len(live), self.dim, memory_budget=memory_budget, flat_max=flat_max)
        same = current is not None and not force and current.get("factory") == plan.factory
        same = same and meta.get("search_config") == config
        structure: Structure | None = None
        if current is not None and same:
            max_vid = int(current["max_vector"])
            inside = int(np.count_nonzero(live <= max_vid))
            if int(current["ntotal"]) == inside == len(live):
                return self._describe(current, len(live))  # nothing changed
            if plan.kind != "flat":
                with contextlib.suppress(Exception):
                    structure = Structure.load(idx.location / current["file"], current)
            if structure is not None:
                if structure.ntotal > inside:
                    structure.remove(np.setdiff1d(np.arange(max_vid + 1), live[:inside]))
                pending = live[inside:]
                step = chunk_rows(self.dim)
                for start in range(0, len(pending), step):
                    part = pending[start : start + step]
                    structure.add(part, idx._read_vectors(part))
                    if progress:
                        progress("search", start + len(part), len(pending))
                max_vid = int(live[-1])
        if structure is None:
            structure, max_vid = _build_structure(idx, config, progress)
        name = _new_name("search", ".faiss")
        structure.save(idx.location / name)
        storage.fsync_path(idx.location)
        search = {"file": name, "max_vector": max_vid, **structure.describe()}
        self._point_search(search, meta, config)
        return self._describe(search, len(live))

    def _describe(self, search: dict[str, Any], live: int) -> dict[str, Any]:
        return {**{k: v for k, v in search.items() if k not in ("file", "max_vector")}, "images": live}

    def _point_search(
        self, search: dict[str, Any] | None, meta: dict[str, Any], config: dict[str, Any]
    ) -> None:
        old = (meta.get("search") or {}).get("file")
        self.set_meta(search=search, search_config=config)
        if old and (search is None or old != search["file"]):
            (self.index.location / old).unlink(missing_ok=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


# ----------------------------------------------------------------------------------------------------------
# Indexing a folder


def index_folder(
    folder: str | os.PathLike[str],
    embedder: Embedder,
    *,
    location: str | os.PathLike[str] | None = None,
    rebuild: bool = False,
    repair: bool = False,
    memory_budget: int | None = None,
    flat_max: int = FLAT_MAX,
    progress: Progress | None = None,
) -> UpdateReport:
    """Embed the images of ``folder`` into its index (created if needed) and bring the index in step
    with the folder: new and changed files are embedded, renamed files keep their vectors, rows of
    deleted files go, unreadable files and folders are skipped and listed in the report.

    ``location`` defaults to ``folder/.lookalike``. An index made by other weights or preprocessing is
    refused (:class:`StoreError`) unless ``rebuild`` replaces it. ``memory_budget`` (bytes) and
    ``flat_max`` steer the search structure (:func:`lookalike.search.choose_structure`).
    ``progress(phase, done, total)`` reports ``scan``, ``hash``, ``embed`` and ``search``.

    Safe to interrupt at any moment (even kill -9): the next run finishes the job. A damaged or missing
    catalogue is replaced by its last good copy (``report.restored`` says so), rows whose vectors were
    lost (a truncated or missing vectors file) are embedded again (``report.repaired``); ``repair`` also
    checks the catalogue in full and every stored vector, and rebuilds the search structure
    (:mod:`lookalike.storage`). Storage failures raise :class:`lookalike.storage.StorageError`.
    """
    started = time.perf_counter()
    root = Path(folder)
    if not root.exists():
        raise StoreError(f"{root}: no such folder; pass the folder of images to index")
    if not root.is_dir():
        raise StoreError(f"{root} is a file; pass the folder that holds the images")
    loc = Path(location) if location is not None else default_location(root)
    asked = embedder_meta(embedder)
    backend = getattr(embedder, "backend", "torch")  # (test doubles of the Embedder have none)
    if backend == "onnx":  # the index keeps its own copy of the model (torch-free queries)
        embedder.use_model_file(loc / INDEX_MODEL_NAME, asked)
    report = UpdateReport(location=loc, root=root)
    with storage.guarded(loc) as guard, _write_lock(loc):
        if not rebuild:
            report.restored = storage.recover(loc, full=repair)
        idx = _open_for_update(loc, root, asked, rebuild=rebuild, report=report)
        try:
            lost = set(storage.repair_vectors(idx, full=repair or report.restored is not None))
            w = Writer(idx)
            embedding = {"rows": idx.count, "total": 0, "done": 0}

            def need() -> int:  # to write still: vectors and rows, the search structure, the copy
                left = embedding["total"] - embedding["done"]
                rows = embedding["rows"] + embedding["total"]
                return left * (4 * w.dim + 512) + rows * 4 * w.dim + storage.catalogue_bytes(loc)

            guard.need = need

            def tell(phase: str, done: int, total: int) -> None:
                if phase == "embed":
                    embedding.update(total=total, done=done)
                if progress:
                    progress(phase, done, total)

            try:
                try:
                    _update(idx, w, root, embedder, report, tell)
                except KeyboardInterrupt:
                    w.flush()  # keep what was embedded: the next run goes on from there
                    raise
                if lost:
                    embedded = {p for p in lost if (e := idx.entry(p)) is not None and e.status == "ok"}
                    report.repaired = min(len(embedded), report.new)
                    report.new -= report.repaired
                dead = w._count - idx.count
                if dead >= _COMPACT_MIN and dead > _COMPACT_DEAD * w._count:
                    w.compact()
                report.search = w.refresh_search(
                    memory_budget=memory_budget, flat_max=flat_max, progress=progress, force=repair
                )
                report.images = idx.count
                report.seconds = time.perf_counter() - started
                changed = report.created or bool(lost or report.embedded or report.moved or report.removed)
                changed = changed or storage.copy_is_stale(loc, idx.meta())  # or a run killed before its copy
                precisions = list(idx.meta().get("precisions") or [])
                if asked.get("precision") not in precisions:
                    precisions.append(asked.get("precision"))
                summary = {k: v for k, v in report.to_dict().items() if k != "failed"}
                summary["failed"] = len(report.failed)
                summary["backend"] = backend
                w.set_meta(updated=time.time(), last_run=summary, precisions=precisions)
                if changed or report.restored:
                    storage.save_copy(idx._conn, loc)
            finally:
                w.close()
        finally:
            idx.close()
    return report


def _open_for_update(
    loc: Path, root: Path, asked: dict[str, Any], *, rebuild: bool, report: UpdateReport
) -> Index:
    exists = (loc / DB_NAME).is_file()
    if exists and not rebuild:
        conn = _connect(loc / DB_NAME)
        try:
            complete = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() is not None
        finally:
            conn.close()
        if complete:
            idx = Index.open(loc)
            try:
                _check_same_vectors(idx.made_by, asked, loc)
                if os.path.realpath(idx.root) != os.path.realpath(root):
                    raise StoreError(
                        f"{loc} is the index of {idx.root}, not of {root}; pass --index OTHER for a "
                        "separate index, or --rebuild to replace it"
                    )
            except BaseException:
                idx.close()
                raise
            return idx
    if exists:
        report.rebuilt = rebuild
        for path in loc.iterdir():
            if path.name.startswith((DB_NAME, "vectors-", "search-")):
                path.unlink(missing_ok=True)
    report.created = True
    return Index.create(loc, root=root, embedder=asked)


def _display(path: Path) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass
class _Pending:
    path: str
    size: int
    mtime_ns: int
    changed: bool


def _update(
    idx: Index,
    w: Writer,
    root: Path,
    embedder: Embedder,
    report: UpdateReport,
    progress: Progress | None,
) -> None:
    from lookalike.images import list_images

    def tell(phase: str, done: int, total: int) -> None:
        if progress:
            progress(phase, done, total)

    # 1. what is on disk
    folders: list[str] = []

    def unreadable(folder: Path, error: ImageError) -> None:
        rel = folder.relative_to(root).as_posix()
        folders.append(rel)
        report.failed.append(Failure(_display(folder.relative_to(root)), str(error), "folder"))

    tell("scan", 0, 0)
    files = list_images(root, on_error=unreadable)
    scanned: list[tuple[str, int | None, int | None]] = []
    stat_failed: list[Entry] = []
    for n, path in enumerate(files, start=1):
        rel_path = path.relative_to(root)
        rel = rel_path.as_posix()
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            report.failed.append(
                Failure(_display(rel_path), f"{_display(path)}: the file name is not valid UTF-8; rename it")
            )
            continue
        try:
            st = path.stat()
        except OSError as exc:
            reason = _file_error(path, exc)
            stat_failed.append(Entry(rel, None, None, None, status="failed", error=reason))
            report.failed.append(Failure(rel, reason))
            scanned.append((rel, None, None))
        else:
            scanned.append((rel, st.st_size, st.st_mtime_ns))
        if n % 10_000 == 0:
            tell("scan", n, len(files))
    tell("scan", len(files), len(files))
    del files

    # 2. compare with the rows
    conn = idx._conn
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS scan (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER)"
    )
    with _transaction(conn):
        conn.execute("DELETE FROM scan")
        conn.executemany("INSERT INTO scan(path, size, mtime_ns) VALUES (?, ?, ?)", scanned)
    del scanned
    join = "FROM scan s JOIN images i ON i.path = s.path WHERE s.size IS NOT NULL AND "
    report.unchanged = int(
        conn.execute(
            f"SELECT COUNT(*) {join} i.status = 'ok' AND i.size = s.size AND i.mtime_ns = s.mtime_ns"
        ).fetchone()[0]
    )
    touched = conn.execute(
        f"SELECT s.path, s.size, s.mtime_ns, i.sha256 {join} i.status = 'ok' AND i.size = s.size "
        "AND i.mtime_ns != s.mtime_ns"
    ).fetchall()
    pending = [
        _Pending(p, s, m, changed=True)
        for p, s, m in conn.execute(
            f"SELECT s.path, s.size, s.mtime_ns {join} i.status = 'ok' AND i.size != s.size"
        )
    ]
    pending += [
        _Pending(p, s, m, changed=False)
        for p, s, m in conn.execute(f"SELECT s.path, s.size, s.mtime_ns {join} i.status = 'failed'")
    ]
    new = conn.execute(
        "SELECT s.path, s.size, s.mtime_ns FROM scan s LEFT JOIN images i ON i.path = s.path "
        "WHERE i.path IS NULL AND s.size IS NOT NULL"
    ).fetchall()
    gone = [
        (rid, path, size, sha, status)
        for rid, path, size, sha, status in conn.execute(
            "SELECT i.id, i.path, i.size, i.sha256, i.status FROM images i "
            "LEFT JOIN scan s ON s.path = i.path WHERE s.path IS NULL"
        )
        if not any(path.startswith(f + "/") for f in folders)
    ]
    conn.execute("DELETE FROM scan")

    # 3. touched files and renames, told apart by content hash (before any worker process starts)
    gone_by_size: dict[int, list[tuple[int, str]]] = {}
    for rid, _, size, sha, status in gone:
        if status == "ok" and sha:
            gone_by_size.setdefault(size, []).append((rid, sha))
    maybe_moved = [row for row in new if row[1] in gone_by_size]
    to_hash = [root / p for p, *_ in touched] + [root / p for p, *_ in maybe_moved]
    hashes: list[str | None] = []
    if to_hash:
        tell("hash", 0, len(to_hash))

        def quiet_sha(path: Path) -> str | None:
            try:
                return file_sha256(path)
            except OSError:
                return None

        with ThreadPoolExecutor(_HASH_THREADS) as pool:
            for n, sha in enumerate(pool.map(quiet_sha, to_hash), start=1):
                hashes.append(sha)
                if n % 256 == 0:
                    tell("hash", n, len(to_hash))
        tell("hash", len(to_hash), len(to_hash))
    touch: list[tuple[str, int, int]] = []
    for (path, size, mtime, old_sha), sha in zip(touched, hashes[: len(touched)], strict=True):
        if sha is not None and sha == old_sha:
            touch.append((path, size, mtime))
        else:
            pending.append(_Pending(path, size, mtime, changed=True))
    report.unchanged += len(touch)
    moves: list[tuple[int, str, int, int]] = []
    claimed: set[int] = set()
    moved_paths: set[str] = set()
    for (path, size, mtime), sha in zip(maybe_moved, hashes[len(touched) :], strict=True):
        for rid, old_sha in gone_by_size.get(size, []):
            if sha is not None and sha == old_sha and rid not in claimed:
                claimed.add(rid)
                moves.append((rid, path, size, mtime))
                moved_paths.add(path)
                break
    pending += [_Pending(p, s, m, changed=False) for p, s, m in new if p not in moved_paths]
    removed = [path for rid, path, *_ in gone if rid not in claimed]
    w.apply(remove=removed, touch=touch, move=moves)
    report.removed, report.moved = len(removed), len(moves)
    if stat_failed:
        w.fail(stat_failed)

    # 4. embed what is new or changed
    pending.sort(key=lambda p: p.path)
    started = time.perf_counter()
    tell("embed", 0, len(pending))
    if pending:
        _embed(w, root, embedder, pending, report, tell)
    w.flush()
    report.embed_seconds = time.perf_counter() - started


def _embed(
    w: Writer,
    root: Path,
    embedder: Embedder,
    pending: list[_Pending],
    report: UpdateReport,
    tell: Progress,
) -> None:
    """Embed ``pending`` files batch by batch; hash them in threads meanwhile; store each batch."""
    paths = [root / p.path for p in pending]
    futures: dict[int, Future[tuple[str | None, int | None, int | None]]] = {}
    pool: ThreadPoolExecutor | None = None
    submitted = done = 0

    def row(i: int, **kw: Any) -> Entry:
        sha, width, height = futures.pop(i).result()
        p = pending[i]
        return Entry(p.path, p.size, p.mtime_ns, sha, width, height, **kw)

    try:
        for batch in embedder.iter_files(paths):
            if pool is None:  # started after the first batch: DataLoader workers are forked by then
                pool = ThreadPoolExecutor(_HASH_THREADS, thread_name_prefix="lookalike-hash")
            seen = [*batch.indices, *(i for i, _ in batch.failures)]
            limit = min(len(pending), max(seen, default=-1) + 1 + _HASH_AHEAD)
            while submitted < limit:
                futures[submitted] = pool.submit(_inspect, paths[submitted])
                submitted += 1
            entries = [row(i) for i in batch.indices]
            if entries:
                w.put(entries, np.asarray(batch.vectors, dtype=np.float32))
            failed = [row(i, status="failed", error=reason) for i, reason in batch.failures]
            if failed:
                w.fail(failed)
            for i in batch.indices:
                if pending[i].changed:
                    report.changed += 1
                else:
                    report.new += 1
            report.failed.extend(Failure(e.path, e.error or "") for e in failed)
            done += len(seen)
            tell("embed", done, len(pending))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
