"""The disk under an index: what it failed at, as one line, and the small facts read off it.

* :func:`explain` turns what the operating system or SQLite raises while an index is read or written (a
  full disk, a file-size limit, a read-only folder, permission denied, a damaged database, an I/O error)
  into a :class:`StorageError` whose one line names the file and says what to do; :func:`guarded` does
  it for a block of code, :func:`translated` for a method of an object with a ``location``.
* :func:`damaged` and :func:`short_vectors` are the errors for a damaged catalogue and a vectors file
  that lost rows; their hints say how to fix the index in the library's terms (``index photos again with
  `repair=True```), which the command line writes with its flags; :func:`update_command` is the command
  line itself (for ``lookalike info``).
* :func:`read_meta`, :func:`copy_info` and :func:`file_id` read a catalogue, its last good copy and a
  file's identity without trusting them; :func:`connect_read_only` opens a catalogue this user may not
  write; :func:`fsync_path` flushes a file or a folder.

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
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from lookalike.collection.location import COPY_NAME, DB_NAME, INDEX_DIRNAME
from lookalike.errors import StoreError
from lookalike.files import fsync_path
from lookalike.units import format_bytes

__all__ = [
    "Guard",
    "StorageError",
    "connect_read_only",
    "copy_info",
    "damaged",
    "explain",
    "file_id",
    "fsync_path",
    "guarded",
    "index_again",
    "read_meta",
    "short_vectors",
    "shown",
    "translated",
    "update_command",
]


Kind = Literal["full", "limit", "read-only", "permission", "damaged", "missing", "short", "io", "busy"]
F = TypeVar("F", bound=Callable[..., Any])


class StorageError(StoreError):
    """The disk under an index failed it: ``kind`` says how (``full``, ``limit``, ``read-only``,
    ``permission``, ``damaged``, ``missing``, ``short``, ``io``, or ``busy``: another process held the
    catalogue too long), ``path`` names the file."""

    def __init__(self, message: str, hint: str | None = None, *, kind: Kind, path: Path) -> None:
        super().__init__(message, hint)
        self.kind = kind
        self.path = path


def update_command(location: Path, root: Path | None = None, *, extra: str = "") -> str:
    """The ``lookalike index`` command line that updates the index in ``location`` (of folder ``root``,
    read from the catalogue or its copy when not given)."""
    if root is None:
        root = _root_of(location)
    if root is None:
        return f"lookalike index FOLDER --index {shown(location)}{extra}"
    if _is_default(location, root):
        return f"lookalike index {shown(root)}{extra}"
    return f"lookalike index {shown(root)} --index {shown(location)}{extra}"


def index_again(location: Path, option: str = "") -> str:
    """The same fix as :func:`update_command` in the library's terms, for a hint: ``index photos again``,
    with ``location`` where the index is not the folder's own and ``option`` (``repair``, ``rebuild``) set
    to ``True`` (the command line writes them as its flags)."""
    root = _root_of(location)
    params = [] if root is not None and _is_default(location, root) else [f"`location={shown(location)}`"]
    params += [f"`{option}=True`"] if option else []
    folder = shown(root) if root is not None else "its folder"
    return f"index {folder} again" + (f" with {' and '.join(params)}" if params else "")


def _is_default(location: Path, root: Path) -> bool:
    """Whether ``location`` is the index folder ``root`` gets when none is named (``root/.lookalike``)."""
    return (
        Path(os.path.normpath(location.absolute())) == Path(os.path.normpath(root.absolute())) / INDEX_DIRNAME
    )


def shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it, else absolute: as a user types it."""
    absolute = Path(os.path.normpath(path.absolute()))
    try:
        return str(absolute.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(absolute)


def _root_of(location: Path) -> Path | None:
    for name in (DB_NAME, COPY_NAME):
        meta = read_meta(location / name)
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


def read_meta(path: Path) -> dict[str, Any] | None:
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


def copy_info(location: Path) -> dict[str, Any] | None:
    """``{"images", "saved", "bytes", "vectors_file", "vectors_count"}`` of the last good copy, or
    ``None`` when there is none (or it cannot be read)."""
    path = location / COPY_NAME
    meta = read_meta(path)
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


def sqlite_code(exc: sqlite3.Error) -> str:
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
        code = sqlite_code(exc)
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
                f"cannot open the catalogue {file} ({exc})",
                f"check that the folder {file.parent} exists and is readable and writable by you, then "
                f"{index_again(loc)}",
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
                f"{shown(file)} stayed locked by another process for too long ({exc})",
                "wait for it (another update of the index?) or end it, then run the same command again",
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
                f"{file} is missing from the index {loc} (deleted, or not copied with it)",
                f"{index_again(loc, 'repair')} to embed again only what it held",
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
            f"{name} reached this process's file-size limit ({format_bytes(limit)}, `ulimit -f`)",
            "raise the limit and run the same command again — nothing already written is lost",
            kind="limit",
            path=file,
        )
    mount, fstype = _mount(file)
    if too_big:
        return StorageError(
            f"a file of {loc} grew too large for its file system ({fstype or 'the disk'} at {mount})",
            "pass `location=DIR` on a disk with another file system, and run the same command again",
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
        f"{what} of {loc} ({disk}) while writing {file.name}{needed}",
        "free some space, or pass `location=DIR` on a larger disk, and run the same command again: nothing "
        "already written is lost",
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
        f"cannot write {file}: the index folder {folder} is on a read-only disk ({_mount(folder)[0]})",
        "make it writable, or pass `location=DIR` for an index on a writable disk",
        kind="read-only",
        path=file,
    )


def _permission(loc: Path, file: Path) -> StorageError:
    owner = ""
    with contextlib.suppress(OSError, KeyError, ImportError):
        import pwd

        target = file if file.exists() else file.parent
        owner = f" (owned by {pwd.getpwuid(target.stat().st_uid).pw_name})"
    other = ", or pass `location=DIR` for an index of your own" if _inside(file, loc) else ""
    return StorageError(
        f"permission denied for {file}{owner}",
        f"run as its owner or give yourself access (chmod/chown){other}",
        kind="permission",
        path=file,
    )


def _io(loc: Path, file: Path, what: str) -> StorageError:
    return StorageError(
        f"the disk could not read or write {file} ({what}) — it may be failing",
        f"copy the index elsewhere and {index_again(loc, 'repair')}",
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
            f"{index_again(location)} to restore its last good copy "
            f"({copy['images']:,} images, {saved_when(copy['saved'])}) and bring it up to date"
        )
    else:
        fix = f"there is no good copy of it: {index_again(location, 'rebuild')}"
    what = "is missing" if missing else f"is damaged ({exc})"
    return StorageError(f"{shown(file)} {what}", fix, kind="missing" if missing else "damaged", path=file)


def short_vectors(location: Path, name: str, have: int, want: int) -> StorageError:
    """The error for a vectors file missing or shorter than the rows that point into it."""
    file = location / name
    state = "is missing" if have < 0 else f"holds {have:,} of the {want:,} vectors the catalogue points at"
    return StorageError(
        f"the vectors file {file} {state} (a partial copy?)",
        f"{index_again(location, 'repair')} to embed again only the lost ones",
        kind="missing" if have < 0 else "short",
        path=file,
    )


def saved_when(stamp: float) -> str:
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
    """Decorate a method of an object with a ``location`` (an :class:`lookalike.collection.Index`) so that
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
