"""An index that survives its disk: storage failures as one clear line, the last good catalogue, repair,
and an index's health.

* :func:`explain` turns what the operating system or SQLite raises while an index is read or written (a
  full disk, a file-size limit, a read-only folder, permission denied, a damaged database, an I/O error)
  into a :class:`StorageError` whose one line names the file and says what to do; :func:`guarded` does
  it for a block of code.
* :func:`save_copy` keeps a consistent copy of the catalogue (``index.db.good``, made with SQLite's online
  backup API, written under a temporary name, fsynced and renamed into place) after every run that
  changed the index; :func:`recover` puts it back when the live catalogue is damaged or gone.
* :func:`repair_vectors` checks the catalogue against the vectors file and drops the rows whose vectors
  are lost (past the end of a truncated file, in a missing file, or not finite) so that the next update
  embeds just those files again.
* :func:`health` describes an index without trusting it: catalogue, vectors, copy, search structure.

>>> with guarded(Path("photos/.lookalike")):  # doctest: +SKIP
...     ...  # an OSError or sqlite3.Error raised here leaves as a StorageError with one clear line
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import json
import os
import re
import resource
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from lookalike.errors import StoreError
from lookalike.units import format_bytes

if TYPE_CHECKING:
    from lookalike.index import Index

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

DB_NAME = "index.db"  # the same as lookalike.index.DB_NAME (not imported: index imports this module)
#: The last good catalogue, beside ``index.db``.
COPY_NAME = DB_NAME + ".good"
#: Where a damaged catalogue is kept when its copy replaces it (one, the latest).
DAMAGED_NAME = DB_NAME + ".damaged"

Kind = Literal["full", "limit", "read-only", "permission", "damaged", "missing", "short", "io", "busy"]
F = TypeVar("F", bound=Callable[..., Any])


class StorageError(StoreError):
    """The disk under an index failed it: ``kind`` says how (``full``, ``limit``, ``read-only``,
    ``permission``, ``damaged``, ``missing``, ``short``, ``io``, or ``busy``: another process held the
    catalogue too long), ``path`` names the file."""

    def __init__(self, message: str, *, kind: Kind, path: Path) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path


# ----------------------------------------------------------------------------------------------------------
# What to run


def update_command(location: Path, root: Path | None = None, *, extra: str = "") -> str:
    """The ``lookalike index`` command line that updates the index in ``location`` (of folder ``root``,
    read from the catalogue or its copy when not given)."""
    if root is None:
        root = _root_of(location)
    if root is None:
        return f"lookalike index FOLDER --index {shown(location)}{extra}"
    if Path(os.path.normpath(location.absolute())) == Path(os.path.normpath(root.absolute())) / ".lookalike":
        return f"lookalike index {shown(root)}{extra}"
    return f"lookalike index {shown(root)} --index {shown(location)}{extra}"


def shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it, else absolute: as a user types it."""
    absolute = Path(os.path.normpath(path.absolute()))
    try:
        return str(absolute.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(absolute)


def _root_of(location: Path) -> Path | None:
    for name in (DB_NAME, COPY_NAME):
        meta = _read_meta(location / name)
        if meta and meta.get("root"):
            beside = location.absolute() / str(meta.get("root_relative", ".."))
            return Path(os.path.normpath(beside)) if beside.is_dir() else Path(str(meta["root"]))
    return None


def file_id(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of ``path``: tells a file from another put in its place (``None`` if absent)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the catalogue ``path`` for a user who may not write it, or on a read-only
    disk. Where SQLite cannot make the shared-memory file a reader of a WAL database needs (a folder this
    user may not write), the file is opened as immutable: right on a read-only disk, and on a folder of
    someone else's while they are not updating it."""

    def connect(how: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?{how}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=30.0,
        )
        try:
            conn.execute("SELECT COUNT(*) FROM meta").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    try:
        return connect("mode=ro")
    except sqlite3.OperationalError:
        if os.access(path.parent, os.W_OK) and not _is_read_only(path.parent):
            raise
        return connect("immutable=1")


def _read_meta(path: Path) -> dict[str, Any] | None:
    """The meta table of the catalogue ``path``, or ``None`` when it cannot be read (never raises)."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()


# ----------------------------------------------------------------------------------------------------------
# Failures as one line


def _mount(path: Path) -> tuple[Path, str]:
    """``(mount point, file system type)`` of the disk that holds ``path`` (or its nearest existing
    parent)."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        dev = p.stat().st_dev
        while p != p.parent and p.parent.stat().st_dev == dev:
            p = p.parent
    except OSError:
        return p, ""
    fstype = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[1] == str(p):
                fstype = fields[2]
    return p, fstype


def _free(path: Path) -> tuple[int, int] | None:
    """``(free bytes, total bytes)`` of the disk that holds ``path``."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def _size_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _sqlite_code(exc: sqlite3.Error) -> str:
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    if name:
        return name
    text = str(exc).lower()  # Python 3.10: no error names
    for words, code in (
        ("disk is full", "SQLITE_FULL"),
        ("readonly", "SQLITE_READONLY"),
        ("read-only", "SQLITE_READONLY"),
        ("malformed", "SQLITE_CORRUPT"),
        ("not a database", "SQLITE_NOTADB"),
        ("unable to open", "SQLITE_CANTOPEN"),
        ("disk i/o error", "SQLITE_IOERR"),
        ("locked", "SQLITE_BUSY"),
    ):
        if words in text:
            return code
    return ""


def explain(
    exc: BaseException,
    location: str | os.PathLike[str],
    *,
    path: str | os.PathLike[str] | None = None,
    need: int | None = None,
) -> StorageError | None:
    """The :class:`StorageError` for ``exc`` raised while the index in ``location`` was read or written,
    or ``None`` when ``exc`` is no storage failure.

    ``path`` is the file being worked on when the error does not name one (a write to an open descriptor,
    any SQLite error: the catalogue); ``need`` is about how many more bytes the work needed.

    >>> explain(OSError(errno.ENOSPC, "No space left on device"), "photos/.lookalike")  # doctest: +SKIP
    StorageError('no space left on the disk of photos/.lookalike (ext4 at /, 0 B free of 250 GB) …')
    """
    if isinstance(exc, StorageError):
        return exc
    loc = Path(location)
    if isinstance(exc, sqlite3.Error):
        file = Path(path) if path is not None else loc / DB_NAME
        code = _sqlite_code(exc)
        if code.startswith("SQLITE_FULL"):
            return _full(loc, file, need)
        if code.startswith("SQLITE_READONLY"):
            return _read_only(loc, file)
        if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return damaged(loc, exc, file=file)
        if code.startswith("SQLITE_CANTOPEN"):
            if not os.access(file.parent, os.W_OK) or _is_read_only(file.parent):
                return _read_only(loc, file)
            return StorageError(
                f"cannot open the catalogue {file} ({exc}); check that the folder {file.parent} exists and "
                f"is readable and writable by you, then run `{update_command(loc)}`",
                kind="permission",
                path=file,
            )
        if code.startswith("SQLITE_IOERR"):  # SQLite's word for a write past a limit, or to a full disk
            limit = _size_limit()
            free = _free(file)
            if limit is not None and any(size + 65_536 >= limit for size in _file_sizes(loc, file)):
                return _full(loc, file, need, too_big=True)
            if free is not None and free[0] < 1 << 20:
                return _full(loc, file, need)
            return _io(loc, file, str(exc))
        if code.startswith("SQLITE_PERM"):
            return _permission(loc, file)
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StorageError(
                f"{shown(file)} stayed locked by another process for too long ({exc}); wait for it (another "
                "`lookalike index`?) or end it, then run the same command again",
                kind="busy",
                path=file,
            )
        return None
    if isinstance(exc, OSError):
        file = Path(exc.filename) if exc.filename else Path(path) if path is not None else loc
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return _full(loc, file, need, quota=exc.errno == errno.EDQUOT)
        if exc.errno == errno.EFBIG:
            return _full(loc, file, need, too_big=True)
        if exc.errno == errno.EROFS:
            return _read_only(loc, file)
        if exc.errno in (errno.EACCES, errno.EPERM):
            return _permission(loc, file)
        if exc.errno == errno.ENOENT:
            if not _inside(file, loc):
                return None
            return StorageError(
                f"{file} is missing from the index {loc} (deleted, or not copied with it); run "
                f"`{update_command(loc, extra=' --repair')}` to embed again only what it held",
                kind="missing",
                path=file,
            )
        if exc.errno == errno.EIO:
            return _io(loc, file, exc.strerror or str(exc))
        return None
    return None


def _inside(file: Path, loc: Path) -> bool:
    try:
        file.absolute().relative_to(loc.absolute())
    except ValueError:
        return False
    return True


def _file_sizes(loc: Path, file: Path) -> list[int]:
    """Sizes of ``file`` and of the files of the index in ``loc``."""
    sizes = []
    with contextlib.suppress(OSError):
        for path in [file, *loc.iterdir()]:
            if path.is_file():
                sizes.append(path.stat().st_size)
    return sizes


def _full(
    loc: Path, file: Path, need: int | None, *, quota: bool = False, too_big: bool = False
) -> StorageError:
    limit = _size_limit()
    if limit is not None and (too_big or any(size + 65_536 >= limit for size in _file_sizes(loc, file))):
        name = file if file.is_file() else f"a file of {file}"
        return StorageError(
            f"{name} reached this process's file-size limit ({format_bytes(limit)}, `ulimit -f`); raise the "
            "limit and run the same command again — nothing already written is lost",
            kind="limit",
            path=file,
        )
    mount, fstype = _mount(file)
    if too_big:
        return StorageError(
            f"a file of {loc} grew too large for its file system ({fstype or 'the disk'} at {mount}); pass "
            "--index DIR on a disk with another file system, and run the same command again",
            kind="full",
            path=file,
        )
    free = _free(file)
    disk = f"{fstype + ' ' if fstype else ''}at {mount}"
    if free is not None:
        disk += f", {format_bytes(free[0])} free of {format_bytes(free[1])}"
    what = "your disk quota is used up" if quota else "no space left on the disk"
    needed = f"; about {format_bytes(need)} more is needed" if need else ""
    return StorageError(
        f"{what} of {loc} ({disk}) while writing {file.name}{needed} — free some space, or pass --index DIR "
        "on a larger disk, and run the same command again: nothing already written is lost",
        kind="full",
        path=file,
    )


def _is_read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _read_only(loc: Path, file: Path) -> StorageError:
    folder = file if file.is_dir() else file.parent
    if not _is_read_only(folder) and (
        not os.access(folder, os.W_OK) or (file.exists() and not os.access(file, os.W_OK))
    ):
        return _permission(loc, file)
    return StorageError(
        f"cannot write {file}: the index folder {folder} is on a read-only disk ({_mount(folder)[0]}); make "
        "it writable, or pass --index DIR for an index on a writable disk",
        kind="read-only",
        path=file,
    )


def _permission(loc: Path, file: Path) -> StorageError:
    owner = ""
    with contextlib.suppress(OSError, KeyError, ImportError):
        import pwd

        target = file if file.exists() else file.parent
        owner = f" (owned by {pwd.getpwuid(target.stat().st_uid).pw_name})"
    other = ", or pass --index DIR for an index of your own" if _inside(file, loc) else ""
    return StorageError(
        f"permission denied for {file}{owner}; run as its owner or give yourself access (chmod/chown){other}",
        kind="permission",
        path=file,
    )


def _io(loc: Path, file: Path, what: str) -> StorageError:
    return StorageError(
        f"the disk could not read or write {file} ({what}) — it may be failing; copy the index elsewhere "
        f"and run `{update_command(loc, extra=' --repair')}`",
        kind="io",
        path=file,
    )


def damaged(
    location: Path, exc: BaseException | str, *, file: Path | None = None, missing: bool = False
) -> StorageError:
    """The error for a damaged (or, with ``missing``, deleted) catalogue: says whether its last good
    copy can replace it."""
    file = file or location / DB_NAME
    copy = copy_info(location)
    if copy is not None:
        fix = (
            f"run `{update_command(location)}` to restore its last good copy "
            f"({copy['images']:,} images, {_when(copy['saved'])}) and bring it up to date"
        )
    else:
        fix = f"there is no good copy of it: rebuild with `{update_command(location, extra=' --rebuild')}`"
    what = "is missing" if missing else f"is damaged ({exc})"
    return StorageError(f"{shown(file)} {what}; {fix}", kind="missing" if missing else "damaged", path=file)


def short_vectors(location: Path, name: str, have: int, want: int) -> StorageError:
    """The error for a vectors file missing or shorter than the rows that point into it."""
    file = location / name
    state = "is missing" if have < 0 else f"holds {have:,} of the {want:,} vectors the catalogue points at"
    return StorageError(
        f"the vectors file {file} {state} (a partial copy?); run "
        f"`{update_command(location, extra=' --repair')}` to embed again only the lost ones",
        kind="missing" if have < 0 else "short",
        path=file,
    )


def _when(stamp: float) -> str:
    return time.strftime("saved %Y-%m-%d %H:%M:%S", time.localtime(stamp))


@contextlib.contextmanager
def guarded(
    location: str | os.PathLike[str], *, path: str | os.PathLike[str] | None = None
) -> Iterator[Guard]:
    """Run a block, turning storage failures (:func:`explain`) into a :class:`StorageError`; set
    ``need`` on the yielded :class:`Guard` to say how many more bytes the work needs."""
    guard = Guard()
    try:
        yield guard
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        cause = _faiss_os_error(exc) if isinstance(exc, RuntimeError) else exc
        error = None if cause is None else explain(cause, location, path=path, need=guard.bytes_needed())
        if error is None:
            raise
        raise error from exc


@dataclass
class Guard:
    """What :func:`guarded` knows of the work: ``need()`` estimates the bytes it still has to write."""

    need: Callable[[], int] | None = None

    def bytes_needed(self) -> int | None:
        if self.need is None:
            return None
        try:
            return self.need()
        except Exception:  # an estimate only: never hide the error being explained
            return None


def _faiss_os_error(exc: RuntimeError) -> OSError | None:
    """The operating-system error inside a FAISS I/O error ("write error in FILE: … (No space left on
    device)"), or ``None``."""
    text = str(exc)
    if "faiss" not in text.lower() and "error in" not in text:
        return None
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EIO):
        if os.strerror(code) in text:
            found = re.search(r"(?:error in|could not open) (\S+?)(?::| for )", text)
            return OSError(code, os.strerror(code), found[1] if found else None)
    return None


def translated(method: F) -> F:
    """Decorate a method of an object with a ``location`` (an :class:`lookalike.index.Index`) so that
    storage failures leave it as :class:`StorageError` (generators too)."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def gen(self: Any, *args: Any, **kwargs: Any) -> Any:
            with guarded(self.location):
                yield from method(self, *args, **kwargs)

        return gen  # type: ignore[return-value]

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with guarded(self.location):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------------------
# The last good catalogue


def fsync_path(path: Path) -> None:
    """Flush a file or a folder (its entries: a rename into it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_copy(conn: sqlite3.Connection, location: Path) -> Path:
    """Copy the catalogue open on ``conn`` (a consistent snapshot, by SQLite's online backup API) to
    ``location/index.db.good``: written to a temporary name, fsynced, renamed into place."""
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


def copy_info(location: Path) -> dict[str, Any] | None:
    """``{"images", "saved", "bytes", "vectors_file", "vectors_count"}`` of the last good copy, or
    ``None`` when there is none (or it cannot be read)."""
    path = location / COPY_NAME
    meta = _read_meta(path)
    if meta is None:
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            images = int(conn.execute("SELECT COUNT(*) FROM images WHERE status = 'ok'").fetchone()[0])
        finally:
            conn.close()
        st = path.stat()
    except (sqlite3.Error, OSError):
        return None
    return {
        "images": images,
        "saved": st.st_mtime,
        "bytes": st.st_size,
        "vectors_file": meta.get("vectors_file"),
        "vectors_count": meta.get("vectors_count"),
    }


def copy_is_stale(location: Path, meta: dict[str, Any]) -> bool:
    """Whether the last good copy is missing or behind the catalogue whose ``meta`` is given in what is
    costly to make again: vectors (a run killed before it saved its copy) or the search structure. (Rows
    it misses otherwise, of files removed, renamed or touched, the update after a restore sees again.)"""
    copied = _read_meta(location / COPY_NAME)
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
        if _sqlite_code(exc).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
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
        f"{_when(info['saved'])})"
    )


def restore_if_damaged(location: Path) -> str | None:
    """:func:`recover` with the index's write lock held (waits for a running update); the line it says."""
    from lookalike.index import _write_lock

    with guarded(location), _write_lock(location):
        return recover(location)


# ----------------------------------------------------------------------------------------------------------
# Repair


def repair_vectors(index: Index, *, full: bool = False) -> list[str]:
    """Check the catalogue of ``index`` against its vectors file and drop the rows whose vectors are lost
    (past the end of the file, or the file is gone; with ``full``, also vectors that are not finite or
    that two rows share), so that the next update embeds their files again. Returns the dropped paths.
    Call with the write lock held, before a :class:`lookalike.index.Writer` opens the index."""
    from lookalike.index import _new_name, _set_meta, _transaction

    meta = index.meta()
    dim = int(meta["dim"])
    row = 4 * dim
    count = int(meta["vectors_count"])
    file = index.location / str(meta["vectors_file"])
    try:
        size: int | None = file.stat().st_size
    except FileNotFoundError:
        size = None
    usable = 0 if size is None else min(count, size // row)
    conn = index._conn
    lost = {
        int(rid): str(path)
        for rid, path in conn.execute(
            "SELECT id, path FROM images WHERE status = 'ok' AND (vector IS NULL OR vector >= ?)", (usable,)
        )
    }
    if full and usable:
        seen: set[int] = set()
        for rid, path, vid in conn.execute(
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
            for rid, path in conn.execute(
                f"SELECT id, path FROM images WHERE status = 'ok' AND vector IN ({marks})", part
            ):
                lost[int(rid)] = str(path)
    if not lost and usable == count and size is not None:
        return []
    values: dict[str, Any] = {"vectors_count": usable}
    if size is None:
        name = _new_name("vectors", ".f32")
        with (index.location / name).open("wb") as f:
            os.fsync(f.fileno())
        fsync_path(index.location)
        values["vectors_file"] = name
    if lost:
        values["search"] = None  # rebuilt from the rows that are left
    with _transaction(conn):
        conn.executemany("DELETE FROM images WHERE id = ?", ((rid,) for rid in lost))
        _set_meta(conn, **values)
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


# ----------------------------------------------------------------------------------------------------------
# Health


def health(location: str | os.PathLike[str]) -> dict[str, Any]:
    """An index's health, read without trusting it (never raises for a damaged index):

    ``catalogue`` (``ok``, ``damaged: why`` or ``missing``), ``images`` and ``failed`` rows, ``vectors``
    (committed rows, rows present in the file, rows whose vectors are lost), ``copy`` (the last good
    catalogue: images, when saved, or ``None``), and ``search`` (``current``, ``stale`` with how many
    vectors it lacks or holds in vain, ``missing``, or ``none``).

    >>> health("photos/.lookalike")["search"]  # doctest: +SKIP
    {'state': 'current', 'pending': 0, 'dead': 0}
    """
    loc = Path(location)
    db = loc / DB_NAME
    out: dict[str, Any] = {
        "catalogue": "ok",
        "images": None,
        "failed": None,
        "vectors": None,
        "copy": copy_info(loc),
        "search": None,
        "command": None,
    }
    problem: str | None
    try:
        problem = "missing" if not db.is_file() else check_catalogue(db)
    except sqlite3.Error as exc:
        problem = str(exc)
    if problem is not None:
        out["catalogue"] = problem if problem == "missing" else f"damaged: {problem}"
        out["command"] = update_command(loc) if out["copy"] else update_command(loc, extra=" --rebuild")
        return out
    meta = _read_meta(db) or {}
    conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=30.0)
    try:
        ok = int(conn.execute("SELECT COUNT(*) FROM images WHERE status = 'ok'").fetchone()[0])
        out["images"] = ok
        out["failed"] = int(conn.execute("SELECT COUNT(*) FROM images WHERE status = 'failed'").fetchone()[0])
        dim = int(meta.get("dim", 0) or 0)
        count = int(meta.get("vectors_count", 0) or 0)
        try:
            present = (loc / str(meta.get("vectors_file"))).stat().st_size // (4 * dim) if dim else 0
            file_ok = True
        except OSError:
            present, file_ok = 0, False
        usable = min(count, present)
        lost = int(
            conn.execute(
                "SELECT COUNT(*) FROM images WHERE status = 'ok' AND (vector IS NULL OR vector >= ?)",
                (usable,),
            ).fetchone()[0]
        )
        out["vectors"] = {"committed": count, "present": min(present, count), "lost": lost, "file": file_ok}
        search = meta.get("search")
        if not search:
            out["search"] = {"state": "none" if not ok else "missing", "pending": ok, "dead": 0}
        else:
            max_vid = int(search["max_vector"])
            inside = int(
                conn.execute(
                    "SELECT COUNT(*) FROM images WHERE status = 'ok' AND vector <= ?", (max_vid,)
                ).fetchone()[0]
            )
            pending, dead = ok - inside, int(search["ntotal"]) - inside
            state = "current" if pending == 0 and dead == 0 else "stale"
            if not (loc / str(search["file"])).is_file():
                state = "missing"
            out["search"] = {"state": state, "pending": pending, "dead": dead}
    finally:
        conn.close()
    if lost:
        out["command"] = update_command(loc, extra=" --repair")
    elif out["copy"] is None and ok:
        out["command"] = update_command(loc)
    return out
