"""Keeping an index in step with its folder: :func:`index_folder` walks the folder, compares it with the
rows, keeps the vectors of renamed and touched files, embeds what is new or changed, and saves the
catalogue's last good copy.

>>> from lookalike.features import Embedder
>>> report = index_folder("photos", Embedder("../shared/models/resnet18-cifar10.pt"))  # doctest: +SKIP
>>> report.new, report.images  # doctest: +SKIP
(2000, 2000)
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.collection import recovery
from lookalike.collection.disk import Guard, guarded, read_meta
from lookalike.collection.distributed import Session, check_address, hash_files, iter_files
from lookalike.collection.facts import file_facts, quiet_sha256
from lookalike.collection.index import Index
from lookalike.collection.location import DB_NAME, default_location
from lookalike.collection.made_by import check_same_vectors, embedder_meta
from lookalike.collection.plan import FLAT_MAX
from lookalike.collection.records import Entry, Failure, Progress, UpdateReport
from lookalike.collection.store import ScanDiff, is_complete, write_lock
from lookalike.collection.writer import Writer
from lookalike.errors import ImageError, StoreError
from lookalike.features import onnx
from lookalike.features.embedder import Embedder
from lookalike.features.onnx import INDEX_MODEL_NAME
from lookalike.images import image_size
from lookalike.scanning import check_exclude, scan_images

__all__ = ["index_folder"]

_HASH_THREADS = 2
_HASH_AHEAD = 512


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
    ray: str | None = None,
    exclude: Sequence[str] | None = None,
) -> UpdateReport:
    """Embed the images of ``folder`` into its index (created if needed) and bring the index in step
    with the folder: new and changed files are embedded, renamed files keep their vectors, rows of
    deleted files go, unreadable files and folders are skipped and listed in the report.

    ``exclude`` leaves files and folders out by glob pattern, relative to ``folder``: ``["*.tmp",
    "raw/**"]`` (the rules are :func:`lookalike.scanning.scan_images`'s; excluded folders are not even
    listed). The index remembers them: ``None`` (the default) applies the patterns it was last given (none
    for a new index; ``rebuild`` keeps them too), a list replaces them from this run on (``[]`` drops
    them all; ``report.exclude_before`` then says what they were). Rows of files that a pattern now
    excludes go, as those of deleted files do; files no pattern excludes any more are embedded.

    ``location`` defaults to ``folder/.lookalike``. An index made by other weights or preprocessing is
    refused (:class:`StoreError`) unless ``rebuild`` replaces it. ``memory_budget`` (bytes) and
    ``flat_max`` steer the search structure (:func:`lookalike.collection.plan.choose_structure`).
    ``progress(phase, done, total)`` reports ``scan``, ``hash``, ``embed`` and ``search``. ``ray`` reads,
    hashes and embeds the files on Ray instead of in this process, which then decides by stat facts
    and writes, reading no image: ``"auto"`` (a local instance) or a cluster's address
    (:mod:`lookalike.collection.distributed`), checked before any work; the index is the same. (Parts
    smaller than two of the embedder's batches are done here: not worth starting Ray.)

    Safe to interrupt at any moment (even kill -9): the next run finishes the job. A damaged or missing
    catalogue is replaced by its last good copy (``report.restored`` says so), rows whose vectors were
    lost (a truncated or missing vectors file) are embedded again (``report.repaired``); ``repair`` also
    checks the catalogue in full and every stored vector, and rebuilds the search structure
    (:mod:`lookalike.collection.recovery`). Storage failures raise
    :class:`lookalike.collection.disk.StorageError`.
    """
    started = time.perf_counter()
    asked_exclude = None if exclude is None else check_exclude(exclude)
    if ray is not None:  # a wrong address is said before any work, whatever the job's size
        check_address(ray)
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
    with guarded(loc) as guard, write_lock(loc):
        if not rebuild:
            report.restored = recovery.recover(loc, full=repair)
        remembered = tuple((read_meta(loc / DB_NAME) or {}).get("exclude") or ())  # (before a rebuild)
        idx = _open_for_update(loc, root, asked, rebuild=rebuild, report=report)
        try:
            lost = set(recovery.repair_vectors(idx, full=repair or report.restored is not None))
            w = Writer(idx)
            try:
                patterns = _exclusions(idx, w, remembered, asked_exclude, report)
                tell = _watch_space(guard, idx, w, progress)
                try:
                    _update(idx, w, root, embedder, report, tell, ray, patterns)
                except KeyboardInterrupt:
                    w.flush()  # keep what was embedded: the next run goes on from there
                    raise
                _keep_query_model(embedder, loc, asked, backend)
                if lost:
                    embedded = {p for p in lost if (e := idx.entry(p)) is not None and e.status == "ok"}
                    report.repaired = min(len(embedded), report.new)
                    report.new -= report.repaired
                w.compact_if_wasteful()
                report.search = w.refresh_search(
                    memory_budget=memory_budget, flat_max=flat_max, progress=progress, force=repair
                )
                report.images = idx.count
                report.seconds = time.perf_counter() - started
                _finish(idx, w, report, asked=asked, backend=backend, lost=bool(lost))
            finally:
                w.close()
        finally:
            idx.close()
    return report


def _exclusions(
    idx: Index, w: Writer, remembered: tuple[str, ...], asked: tuple[str, ...] | None, report: UpdateReport
) -> tuple[str, ...]:
    """The patterns this run excludes: ``asked``, else those the index ``remembered``; kept in the meta
    table before the scan (so that a run cut short remembers them too) and told in ``report``."""
    patterns = remembered if asked is None else asked
    if patterns != remembered and (remembered or not report.created):
        report.exclude_before = list(remembered)
    if tuple(idx.meta().get("exclude") or ()) != patterns:
        w.set_meta(exclude=list(patterns))
    report.exclude = list(patterns)
    return patterns


def _keep_query_model(embedder: Embedder, loc: Path, asked: dict[str, Any], backend: str) -> None:
    """Leave the index an ONNX export of its model, for torch-free queries (:meth:`Index.query_model`).
    The onnx backend wrote it as it embedded; a run through PyTorch on the CPU (bf16 where the CPU computes
    it in hardware) exports it here, once: a query's float32 vector is comparable with stored bf16 ones."""
    if backend == "onnx" or not isinstance(embedder, Embedder):  # (not for the tests' stand-ins)
        return
    if embedder.device.type != "cpu" or not onnx.onnxruntime_available():
        return
    description = {**asked, "precision": "float32", "backend": "onnx"}
    try:
        onnx.ensure_model(loc / INDEX_MODEL_NAME, description, lambda: embedder.model)
    except Exception as exc:  # the index is whole without it: queries by image then load PyTorch
        warnings.warn(
            f"no ONNX model for torch-free queries ({exc!r:.200}); they will use PyTorch", stacklevel=2
        )


def _watch_space(guard: Guard, idx: Index, w: Writer, progress: Progress | None) -> Progress:
    """Tell ``guard`` how many bytes the run still has to write (for a full disk's message) as the embed
    phase goes; returns the progress callback that keeps it informed and passes phases on."""
    embedding = {"rows": idx.count, "total": 0, "done": 0}
    loc = idx.location

    def need() -> int:  # to write still: vectors and rows, the search structure, the copy
        left = embedding["total"] - embedding["done"]
        rows = embedding["rows"] + embedding["total"]
        return left * (4 * w.dim + 512) + rows * 4 * w.dim + recovery.catalogue_bytes(loc)

    guard.need = need

    def tell(phase: str, done: int, total: int) -> None:
        if phase == "embed":
            embedding.update(total=total, done=done)
        if progress:
            progress(phase, done, total)

    return tell


def _finish(
    idx: Index, w: Writer, report: UpdateReport, *, asked: dict[str, Any], backend: str, lost: bool
) -> None:
    """Record the run in the meta table and save the last good copy when the index changed."""
    loc = idx.location
    changed = report.created or bool(lost or report.embedded or report.moved or report.removed)
    changed = changed or report.exclude_before is not None  # (the copy remembers the patterns too)
    changed = changed or recovery.copy_is_stale(loc, idx.meta())  # or a run killed before its copy
    precisions = list(idx.meta().get("precisions") or [])
    if asked.get("precision") not in precisions:
        precisions.append(asked.get("precision"))
    summary = {k: v for k, v in report.to_dict().items() if k != "failed"}
    summary["failed"] = len(report.failed)
    summary["backend"] = backend
    w.set_meta(updated=time.time(), last_run=summary, precisions=precisions)
    if changed or report.restored:
        idx.save_copy()


def _open_for_update(
    loc: Path, root: Path, asked: dict[str, Any], *, rebuild: bool, report: UpdateReport
) -> Index:
    exists = (loc / DB_NAME).is_file()
    if exists and not rebuild and is_complete(loc):
        idx = Index.open(loc)
        try:
            check_same_vectors(idx.made_by, asked, loc)
            if os.path.realpath(idx.root) != os.path.realpath(root):
                raise StoreError(
                    f"{loc} is the index of {idx.root}, not of {root}",
                    hint="pass `location=OTHER` for a separate index, or `rebuild=True` to replace it",
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


# ----------------------------------------------------------------------------------------------------------
# One update: scan, compare, keep what did not change, embed the rest


@dataclass
class _Pending:
    path: str
    size: int
    mtime_ns: int
    changed: bool


@dataclass
class _Scan:
    """The folder's files: ``(path, size, mtime_ns)`` (size ``None``: could not stat), the files that
    could not be stat'ed as failed rows, and the folders that could not be listed."""

    files: list[tuple[str, int | None, int | None]]
    stat_failed: list[Entry]
    folders: list[str]


def _update(
    idx: Index,
    w: Writer,
    root: Path,
    embedder: Embedder,
    report: UpdateReport,
    progress: Progress | None,
    ray: str | None = None,
    exclude: Sequence[str] = (),
) -> None:
    def tell(phase: str, done: int, total: int) -> None:
        if progress:
            progress(phase, done, total)

    # 1. what is on disk (excluded files are not: their rows go as those of deleted files do)
    scan = _scan(root, report, tell, exclude)
    # 2. compare with the rows
    diff = idx.store.compare(scan.files, scan.folders)
    scan.files = []  # (millions of paths: not kept while embedding)
    pending = [_Pending(p, s, m, changed=True) for p, s, m in diff.changed]
    pending += [_Pending(p, s, m, changed=False) for p, s, m in diff.retry]
    report.unchanged = diff.unchanged
    with _ray_session(ray) as session:  # (one Ray instance for steps 3 and 4, started when first needed)
        # 3. touched files and renames, told apart by content hash (before any worker process starts;
        # on Ray by its workers: the driver reads no image's bytes)
        hasher = _hash_all if session is None else _hash_on_ray(session, 2 * embedder.batch_size)
        pending += _keep_unchanged(w, root, diff, report, tell, hasher)
        if scan.stat_failed:
            w.fail(scan.stat_failed)
        # 4. embed what is new or changed
        pending.sort(key=lambda p: p.path)
        started = time.perf_counter()
        tell("embed", 0, len(pending))
        if pending:
            _embed(w, root, embedder, pending, report, tell, session)
        w.flush()
        report.embed_seconds = time.perf_counter() - started


def _ray_session(ray: str | None) -> contextlib.AbstractContextManager[Session | None]:
    """A :class:`~lookalike.collection.distributed.Session` on ``ray``'s address, or ``None`` without."""
    if ray is None:
        return contextlib.nullcontext(None)
    return Session(ray)


def _hash_on_ray(session: Session, least: int) -> Callable[[list[Path], Progress], list[str | None]]:
    """:func:`_hash_all` by Ray tasks (:func:`lookalike.collection.distributed.hash_files`) for ``least``
    files or more; fewer are hashed here (not worth a Ray start)."""

    def hash_on_ray(paths: list[Path], tell: Progress) -> list[str | None]:
        if len(paths) < least:
            return _hash_all(paths, tell)
        tell("hash", 0, len(paths))
        return hash_files(paths, session=session, progress=lambda done, total: tell("hash", done, total))

    return hash_on_ray


def _scan(root: Path, report: UpdateReport, tell: Progress, exclude: Sequence[str] = ()) -> _Scan:
    """List and stat the images of ``root`` but those ``exclude`` leaves out; unlistable folders and
    unusable names go to the report."""
    folders: list[str] = []

    def unreadable(folder: Path, error: ImageError) -> None:
        rel = folder.relative_to(root).as_posix()
        folders.append(rel)
        report.failed.append(Failure(_display(folder.relative_to(root)), str(error), "folder"))

    tell("scan", 0, 0)
    found = scan_images(root, on_error=unreadable, exclude=exclude)
    files, report.skipped = found.paths, found.skipped
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
    return _Scan(scanned, stat_failed, folders)


def _keep_unchanged(
    w: Writer,
    root: Path,
    diff: ScanDiff,
    report: UpdateReport,
    tell: Progress,
    hasher: Callable[[list[Path], Progress], list[str | None]],
) -> list[_Pending]:
    """Hash touched files and possible renames: a touched file with its old content keeps its row, a new
    file with the content of a removed one takes over its row; rows of files that are gone go. All in one
    transaction; returns the files still to embed (touched files whose content changed, new files).
    ``hasher`` hashes them (:func:`_hash_all` in this process, or on Ray)."""
    gone_by_size: dict[int, list[tuple[int, str]]] = {}
    for rid, _, size, sha, status in diff.gone:
        if status == "ok" and sha and size is not None:
            gone_by_size.setdefault(size, []).append((rid, sha))
    maybe_moved = [row for row in diff.new if row[1] in gone_by_size]
    to_hash = [root / p for p, *_ in diff.touched] + [root / p for p, *_ in maybe_moved]
    hashes = hasher(to_hash, tell)
    touched = diff.touched
    pending: list[_Pending] = []
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
    pending += [_Pending(p, s, m, changed=False) for p, s, m in diff.new if p not in moved_paths]
    removed = [path for rid, path, *_ in diff.gone if rid not in claimed]
    w.apply(remove=removed, touch=touch, move=moves)
    report.removed, report.moved = len(removed), len(moves)
    return pending


def _hash_all(paths: list[Path], tell: Progress) -> list[str | None]:
    """SHA-256 of each of ``paths`` (``None`` where it cannot be read), in threads."""
    hashes: list[str | None] = []
    if not paths:
        return hashes
    tell("hash", 0, len(paths))
    with ThreadPoolExecutor(_HASH_THREADS) as pool:
        for n, sha in enumerate(pool.map(quiet_sha256, paths), start=1):
            hashes.append(sha)
            if n % 256 == 0:
                tell("hash", n, len(paths))
    tell("hash", len(paths), len(paths))
    return hashes


def _embed(
    w: Writer,
    root: Path,
    embedder: Embedder,
    pending: list[_Pending],
    report: UpdateReport,
    tell: Progress,
    session: Session | None = None,
) -> None:
    """Embed ``pending`` files batch by batch; hash them in threads meanwhile; store each batch. With a
    Ray ``session`` its actors embed, and hash and measure each file too: the driver only writes."""
    paths = [root / p.path for p in pending]
    futures: dict[int, Future[tuple[str | None, int | None, int | None]]] = {}
    facts: dict[int, tuple[str | None, int | None, int | None]] = {}  # (from Ray's actors)
    pool: ThreadPoolExecutor | None = None
    submitted = done = 0

    def row(i: int, **kw: Any) -> Entry:
        sha, width, height = facts.pop(i) if i in facts else futures.pop(i).result()
        p = pending[i]
        return Entry(p.path, p.size, p.mtime_ns, sha, width, height, **kw)

    try:
        if session is None:
            batches = embedder.iter_files(paths)
        else:  # the same batches, computed by Ray actors (with each file's facts, but for a few files)
            batches = iter_files(embedder, paths, session=session, facts=facts)
        for batch in batches:
            seen = [*batch.indices, *(i for i, _ in batch.failures)]
            if any(i not in facts for i in seen):  # read here: hashed in threads, ahead of the embedding
                if pool is None:  # started after the first batch: DataLoader workers are forked by then
                    pool = ThreadPoolExecutor(_HASH_THREADS, thread_name_prefix="lookalike-hash")
                limit = min(len(pending), max(seen, default=-1) + 1 + _HASH_AHEAD)
                while submitted < limit:
                    futures[submitted] = pool.submit(file_facts, paths[submitted])
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


def _file_error(path: Path, exc: BaseException | None = None) -> str:
    """One line saying why ``path`` cannot be read, in :func:`lookalike.images.load_image`'s words."""
    try:
        image_size(path)
    except ImageError as error:
        return str(error)
    except Exception as error:
        return f"{path}: cannot read ({error})"
    return f"{path}: cannot read ({exc})" if exc else f"{path}: changed while it was being indexed"


def _display(path: Path) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")
