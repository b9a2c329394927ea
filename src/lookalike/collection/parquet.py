"""Embeddings in and out as Parquet: :func:`export_parquet` writes an index's rows and vectors, and
:func:`import_parquet` turns such a file (or one a Spark or Ray job wrote) into an index, or adds it to one.

A file holds one row per searchable image, in standard Arrow types only (pyarrow, DuckDB, pandas, Polars,
Spark and LanceDB read it as it is):

* ``path`` (string, not null): the file, relative to the indexed folder, ``/``-separated;
* ``size``, ``mtime_ns`` (int64, not null): bytes, and modification time in nanoseconds since the epoch;
* ``sha256`` (string): SHA-256 of the content, hex; ``width``, ``height`` (int32): pixels, null if unknown;
* ``vector`` (``fixed_size_list<float>[dim]``, not null): the raw float32 feature vector, bit for bit.

The file's key-value metadata says what made the vectors: ``lookalike.format`` (``lookalike-embeddings``),
``lookalike.version`` (``1``), ``lookalike.embedder`` (JSON: :func:`~lookalike.collection.embedder_meta`
— model, weights, fingerprint, preprocessing, precision, dim), ``lookalike.dim`` and ``lookalike.root`` (the
indexed folder). Failed rows (files that could not be embedded) have no vector and are not exported.

An export to a name ending in ``.parquet`` is one file; to any other name, a folder of part files
``part-00000.parquet``, ``part-00001.parquet`` … of ``rows_per_file`` rows each (one, empty, for an empty
index). Either is written under a temporary name beside the target, fsynced, then renamed into place:
readers see the old export or the whole new one. Vectors are read and written a chunk at a time (about
64 MiB), never all at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lookalike.collection import recovery
from lookalike.collection.disk import fsync_path, guarded
from lookalike.collection.index import Index
from lookalike.collection.location import DB_NAME
from lookalike.collection.made_by import check_same_vectors
from lookalike.collection.plan import chunk_rows
from lookalike.collection.records import Entry, Progress
from lookalike.collection.store import is_complete, write_lock
from lookalike.collection.writer import Writer
from lookalike.errors import LookalikeError, StoreError
from lookalike.features.onnx import SAME_MODEL

__all__ = ["ROWS_PER_FILE", "ExportReport", "ImportReport", "export_parquet", "import_parquet"]

FORMAT, FORMAT_VERSION = "lookalike-embeddings", 1
#: Rows per part file of a folder export (about 200 MB at 512 dimensions).
ROWS_PER_FILE = 100_000
#: Columns an imported file must have; ``width`` and ``height`` may be absent.
REQUIRED = ("path", "size", "mtime_ns", "sha256", "vector")
_INTEGERS, _KEY = ("size", "mtime_ns", "width", "height"), "lookalike."
#: What an imported file's vectors must agree on with the index's, at the least.
_MUST_AGREE = ("model", "fingerprint", "dim")
_IMPORT_BATCH = 4096


class _Report:
    """A report (a dataclass with ``seconds``) whose JSON form is its fields: paths as strings, seconds
    rounded."""

    seconds: float

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, list):
                return [plain(v) for v in value]
            return str(value) if isinstance(value, Path) else value

        out = {f.name: plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass
class ExportReport(_Report):
    """What :func:`export_parquet` wrote: ``rows`` images with ``dim``-d vectors into ``files``."""

    location: Path
    out: Path
    files: list[Path]
    rows: int
    dim: int
    bytes: int
    seconds: float


@dataclass
class ImportReport(_Report):
    """What :func:`import_parquet` did: of the ``rows`` read from ``files`` Parquet files, ``new`` and
    ``changed`` ones were written (``changed`` replaced a row of the same path), ``unchanged`` ones (same
    size, mtime and SHA-256) skipped. ``images``: the searchable images afterwards."""

    location: Path
    source: Path
    root: Path
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    images: int = 0
    created: bool = False
    restored: str | None = None
    seconds: float = 0.0
    search: dict[str, Any] | None = None
    files: int = 0


def _pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, imported on first use: an optional dependency."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise LookalikeError(
            "Parquet export and import need pyarrow, which is not installed",
            hint="pip install 'lookalike[parquet]'",
        ) from None
    return pyarrow, pyarrow.parquet


# ----------------------------------------------------------------------------------------------------------
# Export


def export_parquet(
    location: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    rows_per_file: int | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Write the searchable rows of the index in ``location`` and their vectors to ``out`` as Parquet: one
    file if ``out`` ends in ``.parquet``, else a folder of part files of ``rows_per_file`` rows (default
    :data:`ROWS_PER_FILE`). A previous export at ``out`` is replaced; any other file or non-empty folder
    there is refused. ``progress("export", done, total)`` reports the rows written.

    The index's write lock is held meanwhile (an update waits, and one in progress is refused), so the
    export is one consistent state of the index.
    """
    pa, pq = _pyarrow()
    started = time.perf_counter()
    loc, target = Path(location), Path(out)
    per_file = ROWS_PER_FILE if rows_per_file is None else int(rows_per_file)
    if per_file < 1:
        raise StoreError(
            f"rows_per_file must be at least 1, not {per_file}", hint="pass `rows_per_file=100000`"
        )
    single = target.suffix == ".parquet"
    _check_target(target, single=single)
    with guarded(loc), Index.open(loc) as idx, _read_lock(loc):
        meta = idx.meta()
        schema = _schema(pa, meta)
        tmp = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
        try:
            written = _write_files(
                pa, pq, idx, schema, tmp, single=single, per_file=per_file, progress=progress
            )
            _publish(tmp, target, single=single)
        except OSError as exc:
            raise StoreError(f"cannot write {exc.filename or target}: {exc.strerror or exc}") from None
        finally:
            _remove(tmp)
    files = [target] if single else [target / name for name in written]
    return ExportReport(  # rows: counted in the files, as any reader counts them
        location=loc,
        out=target,
        files=files,
        rows=sum(pq.ParquetFile(f).metadata.num_rows for f in files),
        dim=int(meta["dim"]),
        bytes=sum(f.stat().st_size for f in files),
        seconds=time.perf_counter() - started,
    )


def _check_target(target: Path, *, single: bool) -> None:
    """Refuse to replace anything at ``target`` but a previous export (a Parquet file, or a folder of
    ``part-*.parquet`` files); remove what an interrupted export left beside it."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        _remove(stale)
    if not target.exists() or (single and target.is_file()):
        return
    if not single and target.is_dir():
        others = [
            p.name for p in target.iterdir() if not (p.name.startswith("part-") and p.suffix == ".parquet")
        ]
        if not others:
            return
        raise StoreError(
            f"{target} is a folder holding other files ({', '.join(sorted(others)[:3])}), not an export",
            hint="pass an empty or new folder, or a FILE.parquet",
        )
    kind = "folder" if target.is_dir() else "file"
    want = "a FILE.parquet" if single else "a folder (or a name ending in .parquet for one file)"
    raise StoreError(f"{target} is a {kind}; the export would replace it", hint=f"pass {want} instead")


@contextlib.contextmanager
def _read_lock(location: Path) -> Iterator[None]:
    """The index's write lock, so that no update changes rows or vectors while they are read; none where
    this user cannot write to the index (then nobody here updates it)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(write_lock(location))
        except OSError as exc:
            if not isinstance(exc, PermissionError) and exc.errno != errno.EROFS:
                raise
        yield


def _schema(pa: Any, meta: dict[str, Any]) -> Any:
    dim = int(meta["dim"])
    metadata = {
        _KEY + "format": FORMAT,
        _KEY + "version": str(FORMAT_VERSION),
        _KEY + "embedder": json.dumps(meta["embedder"], sort_keys=True),
        _KEY + "dim": str(dim),
        _KEY + "root": str(meta.get("root", "")),
    }
    return pa.schema(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("size", pa.int64(), nullable=False),
            pa.field("mtime_ns", pa.int64(), nullable=False),
            pa.field("sha256", pa.string()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ],
        metadata=metadata,
    )


def _table(pa: Any, schema: Any, entries: Sequence[Entry], vectors: npt.NDArray[np.float32]) -> Any:
    dim = schema.field("vector").type.list_size
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), type=pa.float32())
    columns = [pa.array([getattr(e, f.name) for e in entries], f.type) for f in list(schema)[:-1]]
    columns.append(pa.FixedSizeListArray.from_arrays(flat, dim))
    return pa.Table.from_arrays(columns, schema=schema)


def _write_files(
    pa: Any,
    pq: Any,
    idx: Index,
    schema: Any,
    tmp: Path,
    *,
    single: bool,
    per_file: int,
    progress: Progress | None,
) -> list[str]:
    """Stream the rows into ``tmp`` (one file, or a folder of part files); returns the part names."""
    if not single:
        tmp.mkdir()
    names: list[str] = []
    writer: Any = None
    in_file = done = 0
    total = idx.count
    step = min(chunk_rows(idx.dim), per_file)

    def open_next() -> Any:
        path = tmp if single else tmp / f"part-{len(names):05d}.parquet"
        names.append(path.name)
        return pq.ParquetWriter(path, schema, use_dictionary=False, compression="snappy")

    try:
        for entries, vectors in idx.iter_vectors(step):
            table = _table(pa, schema, entries, vectors)
            start = 0
            while start < len(entries):
                if writer is None:
                    writer, in_file = open_next(), 0
                take = len(entries) - start if single else min(per_file - in_file, len(entries) - start)
                writer.write_table(table.slice(start, take))
                start, in_file = start + take, in_file + take
                if not single and in_file == per_file:
                    writer.close()
                    writer = None
            done += len(entries)
            if progress:
                progress("export", done, total)
        if not names:  # an empty index: one file with the schema and metadata
            writer = open_next()
    finally:
        if writer is not None:
            writer.close()
    for name in names:
        fsync_path(tmp if single else tmp / name)
    fsync_path(tmp.parent if single else tmp)
    return names


def _publish(tmp: Path, target: Path, *, single: bool) -> None:
    """Rename the finished export into place, replacing a previous one."""
    if single or not target.exists():
        tmp.replace(target)
    else:  # a folder cannot replace a non-empty one in one rename: move the old one aside first
        old = target.with_name(f".{target.name}.tmp-old-{secrets.token_hex(4)}")
        target.replace(old)
        tmp.replace(target)
        _remove(old)
    fsync_path(target.parent)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------------
# Import


def import_parquet(
    source: str | os.PathLike[str],
    location: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    made_by: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Make the vectors in the Parquet file or folder ``source`` an index at ``location``: a new one, or
    an existing one they are added to. Rows whose path the index holds with the same size, mtime and
    SHA-256 are skipped, rows of changed files replaced, and rows the file lacks kept.

    What made the vectors is read from the file's key-value metadata (see the module's notes), or
    ``made_by`` (:func:`~lookalike.collection.embedder_meta` of the embedder, or another index's
    ``made_by``) when the file does not say. Vectors of another model, weights or dimension than the
    index's are refused (:class:`StoreError`). ``root`` is the folder the paths are relative to (a new
    index's; default: the folder the file was exported from if it is here, else ``location``'s parent).
    ``progress(phase, done, total)`` reports ``import`` (rows read) and ``search``.

    Rows go through the same crash-safe :class:`~lookalike.collection.Writer` as
    :func:`~lookalike.collection.index_folder`, in batches: killed at any moment, the index holds whole
    rows only, and the next import finishes the job. A bad row (no vector, a vector of the wrong length,
    NaN or infinity) stops the import with one line naming it; the batches before it stay imported.
    """
    _pyarrow()
    started = time.perf_counter()
    src, loc = Path(source), Path(location)
    files = _parquet_files(src)
    metadata = _check_files(files)
    asked = _what_made(metadata, made_by, files[0])
    report = ImportReport(location=loc, source=src, root=Path(), files=len(files))
    with guarded(loc), write_lock(loc):
        report.restored = recovery.recover(loc)
        idx = _open_target(loc, asked, metadata, root=root, source=src, report=report)
        try:
            w = Writer(idx)
            try:
                _import_rows(files, idx, w, report, progress)
                w.compact_if_wasteful()
                report.search = w.refresh_search(progress=progress)
                report.images = idx.count
                report.seconds = time.perf_counter() - started
                _finish(idx, w, report, asked)
            finally:
                w.close()
        finally:
            idx.close()
    return report


def _parquet_files(source: Path) -> list[Path]:
    """``source`` itself, or the ``*.parquet`` files below the folder ``source`` (names beginning with
    ``_`` or ``.`` left out, as Spark and pyarrow do), in name order."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise StoreError(f"{source}: no such file or folder", hint="pass a Parquet file or a folder of them")
    files = sorted(
        p
        for p in source.rglob("*.parquet")
        if p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(source).parts)
    )
    if not files:
        raise StoreError(f"{source} holds no .parquet files", hint="pass a Parquet file or a folder of them")
    return files


def _check_files(files: list[Path]) -> dict[str, str]:
    """Check every file's columns and metadata before anything is written; returns the metadata (the
    ``lookalike.`` keys) of the first file, which the others must share."""
    first: dict[str, str] | None = None
    for path in files:
        with _open(path) as parquet:
            schema = parquet.schema_arrow
        _check_columns(schema, path)
        metadata = {
            k.decode(errors="replace"): v.decode(errors="replace")
            for k, v in (schema.metadata or {}).items()
            if k.startswith(_KEY.encode())
        }
        if first is None:
            first = metadata
        elif metadata.get(_KEY + "embedder") != first.get(_KEY + "embedder"):
            raise StoreError(
                f"{path} says other vectors were made than {files[0]} does (lookalike.embedder differs)",
                hint="import them into separate indexes",
            )
    assert first is not None
    return first


def _open(path: Path) -> Any:
    _, pq = _pyarrow()
    try:
        return pq.ParquetFile(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except Exception as exc:  # pyarrow's ArrowInvalid: not Parquet, or a damaged footer
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreError(f"{path} is not a readable Parquet file ({reason})") from None


def _check_columns(schema: Any, path: Path) -> None:
    pa, _ = _pyarrow()
    names = set(schema.names)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise StoreError(
            f"{path} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: an embeddings "
            "file has path, size, mtime_ns, sha256 and vector (width and height optional)"
        )
    types = pa.types
    for name in {*_INTEGERS, "path", "sha256"} & names:
        text = name in ("path", "sha256")
        kind = schema.field(name).type
        if not (types.is_string(kind) or types.is_large_string(kind) if text else types.is_integer(kind)):
            raise StoreError(
                f"{path}: the column {name} is {kind}, not {'a string' if text else 'an integer'}"
            )
    vector = schema.field("vector").type
    is_list = types.is_fixed_size_list(vector) or types.is_list(vector) or types.is_large_list(vector)
    if not is_list or not types.is_floating(vector.value_type):
        raise StoreError(
            f"{path}: the column vector is {vector}, not a list of floats "
            "(fixed_size_list<float>[dim], as `export_parquet` writes)"
        )


def _what_made(metadata: dict[str, str], made_by: dict[str, Any] | None, path: Path) -> dict[str, Any]:
    """What made the vectors: ``made_by``, else the file's ``lookalike.embedder``."""
    fmt, version = metadata.get(_KEY + "format", FORMAT), metadata.get(_KEY + "version", "1")
    if fmt != FORMAT or not version.isdigit() or int(version) > FORMAT_VERSION:
        raise StoreError(f"{path} is {fmt} version {version}; this lookalike reads {FORMAT} up to version 1")
    if made_by is None:
        text = metadata.get(_KEY + "embedder")
        if text is None:
            raise StoreError(
                f"{path} does not say what made its vectors (no lookalike.embedder in its metadata)",
                hint="pass `made_by` (embedder_meta(embedder), or the made_by of an index of the same model)",
            )
        with contextlib.suppress(ValueError):
            made_by = json.loads(text)
        if not isinstance(made_by, dict):
            raise StoreError(f"{path}: its lookalike.embedder metadata is not a JSON object")
    lacking = [k for k in _MUST_AGREE if made_by.get(k) in (None, "")]
    if lacking:
        raise StoreError(f"{path}: what made its vectors names no {', '.join(lacking)}")
    return dict(made_by)


def _open_target(
    loc: Path,
    asked: dict[str, Any],
    metadata: dict[str, str],
    *,
    root: str | os.PathLike[str] | None,
    source: Path,
    report: ImportReport,
) -> Index:
    """The index at ``loc`` if its vectors are the same kind as ``asked``, else a new one."""
    if (loc / DB_NAME).is_file() and is_complete(loc):
        idx = Index.open(loc)
        try:
            keys = [*_MUST_AGREE, *(k for k in SAME_MODEL if k in asked and k not in _MUST_AGREE)]
            check_same_vectors(
                idx.made_by,
                asked,
                loc,
                keys=keys,
                source=source,
                hint="import them into a new index: pass another `location`",
            )
            if root is not None and os.path.realpath(root) != os.path.realpath(idx.root):
                raise StoreError(
                    f"{loc} is the index of {idx.root}, not of {root}", hint="pass another `location`"
                )
        except BaseException:
            idx.close()
            raise
        report.root = idx.root
        return idx
    for path in loc.iterdir():  # what an interrupted creation left
        if path.name.startswith((DB_NAME, "vectors-", "search-")):
            path.unlink(missing_ok=True)
    exported = Path(metadata.get(_KEY + "root") or loc.absolute().parent)
    report.root = Path(root) if root is not None else exported if exported.is_dir() else loc.absolute().parent
    report.created = True
    return Index.create(loc, root=report.root, embedder=asked)


def _import_rows(
    files: list[Path], idx: Index, w: Writer, report: ImportReport, progress: Progress | None
) -> None:
    """Read the files batch by batch; write the rows that are new or changed."""
    _, pq = _pyarrow()
    total = sum(int(pq.read_metadata(path).num_rows) for path in files)
    try:
        for path in files:
            parquet = _open(path)  # one file open at a time (a folder may hold thousands)
            names = [c for c in (*REQUIRED, "width", "height") if c in parquet.schema_arrow.names]
            first = report.rows
            for batch in parquet.iter_batches(batch_size=_IMPORT_BATCH, columns=names):
                entries, vectors = _batch_rows(batch, idx.dim, path, report.rows - first)
                known = {
                    row[0]: tuple(row[1:])
                    for start in range(0, len(entries), 900)  # within SQLite's limit on bound values
                    for row in idx.store.query(
                        "SELECT path, size, mtime_ns, sha256, status FROM images WHERE path IN "
                        f"({','.join('?' * len(entries[start : start + 900]))})",
                        [e.path for e in entries[start : start + 900]],
                    )
                }
                same = [known.get(e.path) == (e.size, e.mtime_ns, e.sha256, "ok") for e in entries]
                keep = [i for i, unchanged in enumerate(same) if not unchanged]
                report.rows += len(entries)
                report.unchanged += len(entries) - len(keep)
                report.changed += sum(1 for i in keep if entries[i].path in known)
                report.new += sum(1 for i in keep if entries[i].path not in known)
                if keep:
                    w.put([entries[i] for i in keep], vectors[keep])
                if progress:
                    progress("import", report.rows, total)
            parquet.close()
    except KeyboardInterrupt:
        w.flush()  # keep what was read: the next import goes on from there
        raise
    w.flush()


def _batch_rows(batch: Any, dim: int, path: Path, offset: int) -> tuple[list[Entry], npt.NDArray[np.float32]]:
    """The rows of a record batch and their vectors, checked: one line naming the first bad row."""
    pa, _ = _pyarrow()
    columns = {name: batch.column(name).to_pylist() for name in batch.schema.names if name != "vector"}
    paths: list[Any] = columns["path"]

    def bad(i: int, what: str) -> StoreError:
        return StoreError(f"{path}: row {offset + i} ({paths[i]}) {what}")

    for i, rel in enumerate(paths):
        parts = str(rel).split("/")
        if not rel or rel.startswith("/") or ".." in parts or "\\" in rel:
            raise bad(i, "has no path relative to the indexed folder ('/'-separated, no '..')")
        if columns["size"][i] is None or columns["mtime_ns"][i] is None:
            raise bad(i, "has no size or mtime_ns")
    vector = batch.column("vector")
    if vector.null_count:
        raise bad(int(np.flatnonzero(vector.is_null().to_numpy(zero_copy_only=False))[0]), "has no vector")
    if not pa.types.is_fixed_size_list(vector.type):
        lengths = vector.value_lengths().to_numpy(zero_copy_only=False)
        wrong = np.flatnonzero(lengths != dim)
        if len(wrong):
            raise bad(
                int(wrong[0]), f"has a vector of {lengths[wrong[0]]} values, but the index's have {dim}"
            )
    elif vector.type.list_size != dim:
        raise bad(0, f"has a vector of {vector.type.list_size} values, but the index's have {dim}")
    values = vector.flatten().fill_null(float("nan"))  # a null value is as bad as NaN
    vectors = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise bad(int(np.flatnonzero(~finite)[0]), "has a vector holding NaN, infinity or null")
    none = [None] * len(paths)
    names = ("path", "size", "mtime_ns", "sha256", "width", "height")
    entries = [Entry(*row) for row in zip(*(columns.get(name, none) for name in names), strict=True)]
    return entries, vectors


def _finish(idx: Index, w: Writer, report: ImportReport, asked: dict[str, Any]) -> None:
    """Record the import in the meta table; save the last good copy when the index changed."""
    meta = idx.meta()
    precisions = list(dict.fromkeys([*(meta.get("precisions") or []), asked.get("precision")]))
    summary = report.to_dict()  # (no backend: `lookalike info` shows the one that made the vectors)
    changed = report.created or report.new or report.changed or recovery.copy_is_stale(idx.location, meta)
    w.set_meta(updated=time.time(), last_run=summary, precisions=precisions)
    if changed or report.restored:
        idx.save_copy()
