"""The served index: images by id, files read only inside the indexed folder, thumbnails, the model, and
the duplicates job. Everything the web app does to an index goes through :class:`Collection`.

* **Ids** are the index's row ids (:attr:`lookalike.collection.Entry.id`), stable while a file keeps its path
  (and across renames detected by ``lookalike index``). A :class:`Snapshot` maps them to rows; it is
  rebuilt when the index changes (another process may run ``lookalike index`` meanwhile).
* **Files** are opened by id only: the row's path joined to the indexed folder, resolved, and refused
  unless the real file lies inside the indexed folder (a symbolic link out of it is not served).
* **Thumbnails** are made once per file content (``<index>/thumbs/ab/<id>-<sha>-<side>.jpg``, written
  to a temporary name and renamed into place) and served from there; without write access to the index
  they live in a bounded memory cache instead.
* **The model** (:meth:`lookalike.collection.Index.embedder`) is loaded once, at start-up in the background,
  and runs one image at a time: on a small CPU, parallel forward passes only slow each other down.
* **Duplicates** (:func:`lookalike.dedup.find_duplicates`) run in a background thread on request, with
  progress, and the result is kept for the index version it was computed on; the review decisions kept
  in the index folder (:mod:`lookalike.dedup.decisions`) are honoured (:mod:`lookalike.web.review` applies
  those made later).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lookalike.collection.index import Index
from lookalike.collection.records import Entry
from lookalike.dedup import find_duplicates
from lookalike.dedup.decisions import Decisions
from lookalike.errors import ImageError, LookalikeError
from lookalike.formats import format_of, pillow_formats
from lookalike.images import load_image
from lookalike.inspection import inspect_folder

if TYPE_CHECKING:
    from PIL import Image

    from lookalike.features import Embedder
    from lookalike.features.onnx import OnnxModel

__all__ = ["Collection", "DuplicatesJob", "InspectJob", "ServeError", "Snapshot"]

log = logging.getLogger("lookalike.web")

THUMB_SIDE = 256
THUMB_QUALITY = 85
_MEMORY_THUMBS = 4096
# Formats browsers show as they are; others (TIFF, PPM) are sent as PNG.
#: The longest side and quality of the JPEG preview served for a format browsers cannot show (HEIC, RAW,
#: TIFF…): a 12-megapixel photo at full size, at a quality whose loss the eye does not see.
PREVIEW_SIDE = 4096
PREVIEW_QUALITY = 92
BROWSER_FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                   "WEBP": "image/webp", "BMP": "image/bmp"}  # fmt: skip


class ServeError(LookalikeError):
    """An image that exists in the index but cannot be served: ``status`` says why (403, 404, 409).

    The page shows ``str()`` (message and hint on one line), so neither names a command-line flag.
    """

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass
class Snapshot:
    """The index's searchable rows at one version: in path order, by id, and ids by path."""

    version: str
    entries: list[Entry]
    by_id: dict[int, Entry]
    id_of: dict[str, int]

    @classmethod
    def read(cls, index: Index, version: str) -> Snapshot:
        entries = [e for e in index.entries("ok") if e.id is not None]
        return cls(
            version=version,
            entries=entries,
            by_id={int(e.id): e for e in entries},  # type: ignore[arg-type]
            id_of={e.path: int(e.id) for e in entries},  # type: ignore[arg-type]
        )


def _version(meta: dict[str, Any]) -> str:
    """A short tag that changes whenever rows or vectors of the index change."""
    key = [meta.get(k) for k in ("created", "updated", "vectors_file", "vectors_count")]
    key.append((meta.get("search") or {}).get("file"))
    return hashlib.sha1(json.dumps(key, default=str).encode()).hexdigest()[:12]


def content_key(entry: Entry) -> str:
    """What a thumbnail of ``entry`` is keyed by: its content hash (size and mtime when it has none)."""
    if entry.sha256:
        return entry.sha256[:16]
    return hashlib.sha1(f"{entry.size}-{entry.mtime_ns}".encode()).hexdigest()[:16]


class Collection:
    """An open index as the web app sees it (thread-safe). Close it with :meth:`close`.

    ``max_pixels`` is the decompression-bomb limit for every image read (default: that of
    :func:`lookalike.images.load_image`); ``thumb_side`` the longest side of a thumbnail.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        max_pixels: int | None = None,
        thumb_side: int = THUMB_SIDE,
    ) -> None:
        self.index = Index.open(location)
        self.location = Path(location)
        self.max_pixels = max_pixels
        self.thumb_side = thumb_side
        self.root = self.index.root
        self._root_real = os.path.realpath(self.root)
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._model_lock = threading.Lock()
        self._model_error: str | None = None
        self._model_ready = threading.Event()
        self._thumb_dir = self.location / _thumb_folder(self.location, self.root)
        self._thumb_memory: OrderedDict[str, bytes] | None = None
        self._thumb_lock = threading.Lock()
        self.decisions = Decisions(self.location)
        self.duplicates = DuplicatesJob(self)
        self.inspection = InspectJob(self)

    def close(self) -> None:
        """Stop a running duplicates job (at its next progress report) and close the index."""
        for job in (self.duplicates, self.inspection):
            job.cancel()
            job.wait(30)
        self.index.close()

    # -- rows ---------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The rows as of now (re-read only when the index changed since the last call)."""
        version = _version(self.index.meta())
        current = self._snapshot
        if current is not None and current.version == version:
            return current
        with self._lock:
            current = self._snapshot
            if current is None or current.version != version:
                current = Snapshot.read(self.index, version)
                self._snapshot = current
            return current

    def entry(self, image_id: int) -> Entry:
        """The row of image ``image_id``; :class:`ServeError` 404 if the index has none."""
        found = self.snapshot().by_id.get(image_id)
        if found is None:
            raise ServeError(
                404, f"no image with id {image_id} in this index", "list the ids with GET /api/images"
            )
        return found

    # -- files --------------------------------------------------------------------------------------------

    def file(self, entry: Entry) -> Path:
        """The real path of ``entry``'s file, checked to lie inside the indexed folder.

        Raises :class:`ServeError`: 403 for a file that resolves outside the folder (a symbolic link out of
        it), 404 for a file gone since indexing.
        """
        real = os.path.realpath(self.root / entry.path)
        if not real.startswith(self._root_real.rstrip(os.sep) + os.sep):
            raise ServeError(
                403,
                f"image {entry.id} ({entry.path}) resolves to a file outside the indexed folder "
                "(a symbolic link)",
                "lookalike serves only files inside it",
            )
        if not Path(real).is_file():
            raise ServeError(
                404,
                f"image {entry.id} ({entry.path}) is no longer on disk",
                "run `lookalike index` again to bring the index up to date",
            )
        return Path(real)

    def servable(self, entry: Entry) -> bool:
        try:
            self.file(entry)
        except ServeError:
            return False
        return True

    def load(self, entry: Entry, *, draft: tuple[int, int] | None = None) -> Image.Image:
        """``entry``'s picture (through :meth:`file`'s checks and the pixel limit)."""
        path = self.file(entry)
        try:
            return load_image(path, max_pixels=self.max_pixels, draft=draft)
        except ImageError as exc:
            raise ServeError(409, f"image {entry.id} cannot be read now: {exc}") from None

    def original(self, entry: Entry) -> tuple[Path | bytes, str]:
        """``(file or JPEG, media type)`` of the full image: a format browsers show is sent as is; another
        (HEIC, JPEG XL, RAW, TIFF…) as a JPEG preview of at most :data:`PREVIEW_SIDE`, made once per
        content and cached with the thumbnails."""
        from PIL import Image, UnidentifiedImageError

        path = self.file(entry)
        fmt = format_of(path)
        media = None
        if fmt is not None and fmt.browser:
            try:
                with Image.open(path, formats=pillow_formats()) as img:
                    media = BROWSER_FORMATS.get(str(img.format))
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise ServeError(409, f"image {entry.id} cannot be read now: {exc}") from None
        if media is not None:
            return path, media
        return self.thumbnail(entry, side=PREVIEW_SIDE)[0], "image/jpeg"

    # -- thumbnails ---------------------------------------------------------------------------------------

    def thumb_path(self, entry: Entry, side: int | None = None) -> Path:
        key = content_key(entry)
        return self._thumb_dir / key[:2] / f"{entry.id}-{key}-{side or self.thumb_side}.jpg"

    def thumbnail(self, entry: Entry, side: int | None = None) -> tuple[bytes | Path, bool]:
        """``(cached file or fresh JPEG bytes, whether it came from the cache)``: ``entry`` shrunk to fit
        ``side`` (default :attr:`thumb_side`; never enlarged), made once per content and kept."""
        self.file(entry)  # the checks come first, also for a cached thumbnail
        side = side or self.thumb_side
        target = self.thumb_path(entry, side)
        memory = self._thumb_memory
        if memory is None:
            if target.is_file():
                return target, True
        else:
            with self._thumb_lock:
                data = memory.get(target.name)
                if data is not None:
                    memory.move_to_end(target.name)
                    return data, True
        data = self._make_thumbnail(entry, side)
        self._keep_thumbnail(target, data)
        return data, False

    def _make_thumbnail(self, entry: Entry, side: int) -> bytes:
        from PIL import Image

        img = self.load(entry, draft=(side, side))
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        quality = PREVIEW_QUALITY if side == PREVIEW_SIDE else THUMB_QUALITY
        img.save(buf, "JPEG", quality=quality, optimize=True)
        return buf.getvalue()

    def _keep_thumbnail(self, target: Path, data: bytes) -> None:
        if self._thumb_memory is None:
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with tmp.open("xb") as f:
                    f.write(data)
                tmp.replace(target)  # atomic: readers see no file or the whole file
                return
            except OSError as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                log.warning("cannot write thumbnails to %s (%s); keeping them in memory", target.parent, exc)
                self._thumb_memory = OrderedDict()
        with self._thumb_lock:
            memory = self._thumb_memory
            assert memory is not None
            memory[target.name] = data
            while len(memory) > _MEMORY_THUMBS:
                memory.popitem(last=False)

    # -- the model ----------------------------------------------------------------------------------------

    def warm(self) -> None:
        """Load what the first requests need: the rows, the search structure, the re-ranking metrics and
        the model, with one forward pass (the first one pays for setting the kernels up)."""
        from PIL import Image

        try:
            snap = self.snapshot()
            if snap.entries:
                self.index.search(self.root / snap.entries[0].path, k=1, metric="l1")
        except LookalikeError as exc:
            log.warning("%s", exc)
        with contextlib.suppress(LookalikeError):  # kept in model_error and reported by /api/info
            side = int(self.index.made_by["crop_size"])
            self.embed(Image.new("RGB", (side, side), (128, 128, 128)))

    def embedder(self) -> Embedder:
        """The index's own model, loaded once (:class:`lookalike.errors.StoreError` if it cannot be)."""
        with self._model_lock:
            try:
                return self.index.embedder()
            except LookalikeError as exc:
                self._model_error = str(exc)
                raise

    @property
    def model_error(self) -> str | None:
        """Why uploads cannot be embedded (e.g. the index was built with random weights), or ``None``."""
        return self._model_error

    @property
    def model_ready(self) -> bool:
        """Whether the model has run once (loaded, kernels set up: an upload now waits for nothing but
        other uploads)."""
        return self._model_ready.is_set()

    @contextlib.contextmanager
    def model(self) -> Iterator[Embedder | OnnxModel]:
        """The model, held by one request at a time: the index's exported model (one thread, no torch;
        OpenVINO bf16 where the CPU computes bf16 in hardware) when it has one, else the PyTorch embedder."""
        exported = self._exported_model()
        emb = exported if exported is not None else self.embedder()
        with self._model_lock:
            yield emb

    def _exported_model(self) -> OnnxModel | None:
        """The index's exported model as uploads run it: one thread (uploads take it one at a time), in
        OpenVINO bf16 where the CPU computes bf16 in hardware, else ONNX Runtime; ``None`` without one."""
        return self.index.query_model(threads=1, engine="auto")

    def embed(self, image: Image.Image) -> tuple[np.ndarray[Any, np.dtype[np.float32]], float]:
        """``(raw feature vector, seconds the model ran)`` of a picture, made by the index's own model and
        preprocessing (the seconds leave out waiting for the model). The index's exported model
        (:meth:`lookalike.collection.Index.query_model`, one thread, the OpenVINO engine where it pays:
        :mod:`lookalike.features.openvino`) runs it without torch; without one yet, the PyTorch embedder
        exports it on the first upload."""
        with self._model_lock:
            started = time.perf_counter()
            try:
                self._exported_model()  # settles how the index's model runs before it first does
                vec, _, _ = self.index.query_vector(image)
            except LookalikeError as exc:
                self._model_error = str(exc)
                raise
            seconds = time.perf_counter() - started
        self._model_ready.set()
        return vec, seconds


def _thumb_folder(location: Path, root: Path) -> str:
    """``thumbs``, or ``.thumbs`` when the index lies inside the indexed folder without a hidden folder on
    the way (``lookalike index`` skips hidden folders: thumbnails must not become indexed images)."""
    try:
        rel = location.resolve().relative_to(root.resolve())
    except ValueError:
        return "thumbs"
    return "thumbs" if any(part.startswith(".") for part in rel.parts) else ".thumbs"


# ----------------------------------------------------------------------------------------------------------
# Duplicates, computed on request in the background


State = Literal["idle", "working", "done", "failed"]


@dataclass
class DuplicatesJob:
    """One :func:`lookalike.dedup.find_duplicates` run at a time over the servable images, kept per index
    version. :meth:`start` begins one unless a result for the current version exists or one is running."""

    collection: Collection
    state: State = "idle"
    version: str | None = None
    stage: str | None = None
    done: int = 0
    total: int = 0
    started: float | None = None
    seconds: float | None = None
    error: str | None = None
    result: Any = None  # the DedupResult (InspectJob: the InspectReport)
    ids: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _cancelled: bool = False
    #: The decisions the result honours: pairs kept apart and keepers chosen (content hashes).
    used: tuple[set[tuple[str, str]], set[str]] = field(default_factory=lambda: (set(), set()))

    def status(self) -> dict[str, Any]:
        """The job as the API shows it; a result for an older index version reads as ``idle``."""
        current = self.collection.snapshot().version
        with self._lock:
            state: State = self.state
            if state in ("done", "failed") and self.version != current:
                state = "idle"
            return {
                "state": state,
                "version": current,
                "stage": self.stage if state == "working" else None,
                "done": self.done if state == "working" else None,
                "total": self.total if state == "working" else None,
                "started": self.started,
                "seconds": self.seconds if state in ("done", "failed") else None,
                "error": self.error if state == "failed" else None,
                "result": self.result if state == "done" else None,
                "ids": self.ids,
            }

    def start(self) -> bool:
        """Begin a run unless one is running or the current version's result exists; ``True`` if begun."""
        snap = self.collection.snapshot()
        with self._lock:
            if self.state == "working" or (self.state == "done" and self.version == snap.version):
                return False
            self.state, self.version, self.stage, self.done, self.total = "working", snap.version, None, 0, 0
            self.started, self.seconds, self.error, self.result = time.time(), None, None, None
            self._cancelled = False
            self._thread = threading.Thread(
                target=self._run, args=(snap,), name="lookalike-duplicates", daemon=True
            )
            self._thread.start()
            return True

    def redo(self) -> bool:
        """Compute again (once the running job, if any, ends): a decision the result honours was taken
        back. ``True`` if a run began now."""
        with self._lock:
            if self.state == "working":
                return False
            self.state, self.result = "idle", None
        return self.start()

    def cancel(self) -> None:
        self._cancelled = True

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self._cancelled:
            raise _CancelledError
        with self._lock:
            self.stage, self.done, self.total = stage, done, total

    #: What the job does, as its failures say it.
    what = "finding duplicates"

    def _servable(self, snap: Snapshot) -> tuple[list[Path], dict[str, int]]:
        """The servable files of ``snap`` and their ids by path."""
        paths: list[Path] = []
        ids: dict[str, int] = {}
        for e in snap.entries:
            if self.collection.servable(e):
                path = self.collection.root / e.path
                paths.append(path)
                ids[str(path)] = int(e.id)  # type: ignore[arg-type]
        return paths, ids

    def _compute(self, paths: list[Path], snap: Snapshot) -> Any:
        """The job's result over ``paths`` (the servable files of ``snap``)."""
        decisions = self.collection.decisions
        ignore, prefer = decisions.ignored_pairs(), set(decisions.keepers())
        with self._lock:
            self.used = (ignore, prefer)
        return (
            find_duplicates(paths, progress=self._progress, ignore=ignore, prefer=prefer) if paths else None
        )

    def _run(self, snap: Snapshot) -> None:
        started = time.perf_counter()
        try:
            paths, ids = self._servable(snap)
            self._progress("reading", 0, len(paths))
            result = self._compute(paths, snap)
            with self._lock:
                self.result, self.ids, self.state = result, ids, "done"
        except _CancelledError:
            with self._lock:
                self.state, self.error = "failed", "stopped: the server is shutting down"
        except Exception as exc:  # the page shows why; the server keeps serving
            log.exception("%s failed", self.what)
            with self._lock:
                self.state, self.error = "failed", f"{self.what} failed: {exc}"
        finally:
            with self._lock:
                self.seconds = time.perf_counter() - started


@dataclass
class InspectJob(DuplicatesJob):
    """One :func:`lookalike.inspection.inspect_folder` run at a time over the servable images, with the
    index's own vectors for the outlier test, kept per index version (as :class:`DuplicatesJob`)."""

    what = "inspecting"

    def _compute(self, paths: list[Path], snap: Snapshot) -> Any:
        if not paths:
            return None
        entries = [e for e in snap.entries if self.collection.root / e.path in set(paths)]
        vectors = self.collection.index.vectors(entries)
        return inspect_folder(
            self.collection.root,
            paths=paths,
            vectors=([self.collection.root / e.path for e in entries], vectors),
            progress=self._progress,
        )


class _CancelledError(Exception):
    pass
