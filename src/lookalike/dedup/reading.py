"""Reading a collection once: each file's facts, its content box, colour thumbnails and fine grey thumbnail.

Each file is decoded once (JPEG in draft mode, at no less than twice the fine thumbnail's size). From that
decode come: the **content box** (:mod:`~lookalike.dedup.borders`: uniform bands trimmed), a 32×32 colour
thumbnail of the whole image and, when a border was trimmed, one of the content box (3 KB each: the only
per-image pixels kept for the whole run), and the **fine** grey thumbnail (:data:`~lookalike.dedup.fine.FINE`
px on the long side, up to 64 KB) that only pairs passing the coarse check need. Fine thumbnails are kept
from this read up to ``fine_budget`` bytes; the rest are read again when a pair needs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lookalike.dedup.borders import WHOLE, Box, content_box
from lookalike.dedup.coarse import BASE
from lookalike.dedup.fine import FINE
from lookalike.dedup.subjects import Subject, find_subject
from lookalike.errors import ImageError
from lookalike.forked import forked_map, processes_for
from lookalike.hashing import file_sha256
from lookalike.images import load_image

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

#: ``progress(stage, done, total)``: stage is "reading", "embedding" or "verifying".
Progress = Callable[[str, int, int], None]
#: Memory for fine thumbnails kept from the first read (bytes).
FINE_BUDGET = 256 << 20
#: ``measure(pictures, sizes)``: something to learn from each picture while it is decoded (its statistics,
#: for :mod:`lookalike.inspection`), one result a picture: the RGB pictures with their long side at most
#: ``FINE`` px, and the stored sizes of their files (width, height). Small files come many at a time
#: (:data:`BATCH`), so that a measure can work on a stack of pictures of one size.
Measure = Callable[[Sequence["Image.Image"], Sequence[tuple[int, int]]], Sequence[object]]
#: Small files are read this many at a time (one task of a worker), and measured together.
BATCH = 64


@dataclass
class FileFacts:
    """What the scan learnt of one file: where it is, its stored size (after EXIF orientation), bytes, last
    change, its content box (:data:`~lookalike.dedup.borders.WHOLE` when it has no uniform border) and what
    stands on its plain background (``None`` when it has none: :mod:`~lookalike.dedup.subjects`)."""

    path: Path
    width: int
    height: int
    bytes: int
    mtime: float
    content: Box = WHOLE
    subject: Subject | None = None


@dataclass
class FileRead:
    """One file read: its facts, the 32×32 colour thumbnails of its views (the whole image, then the content
    box when it differs) and its fine grey thumbnail (uint8, long side ≤ FINE)."""

    facts: FileFacts
    thumbs: list[npt.NDArray[np.uint8]]
    fine: npt.NDArray[np.uint8]
    measured: object = None


def _thumb(img: Image.Image, box: Box) -> npt.NDArray[np.uint8]:
    """``box`` (fractions) of ``img`` squashed to BASE×BASE RGB."""
    import numpy as np
    from PIL import Image

    px = (box[0] * img.width, box[1] * img.height, box[2] * img.width, box[3] * img.height)
    small = img.resize((BASE, BASE), Image.Resampling.BILINEAR, box=px, reducing_gap=3.0)
    return np.asarray(small, dtype=np.uint8)


def read_one(path: Path, measure: Measure | None = None) -> FileRead:
    """Read one file (see the module docstring); with ``measure``, also what it learns of the picture.
    Raises :class:`ImageError` for every way a file can be unreadable."""
    return _measured(*_read_file(path), measure)


def read_batch(paths: Sequence[Path], measure: Measure | None = None) -> list[FileRead | str]:
    """:func:`read_one` of each of ``paths``, or why it cannot be read (one line); ``measure`` runs once,
    on all the pictures read."""
    out: list[FileRead | str] = []
    pictures: list[tuple[FileRead, Image.Image]] = []
    for p in paths:
        try:
            read, picture = _read_file(p)
        except ImageError as exc:
            out.append(str(exc))
            continue
        except OSError as exc:
            out.append(f"{p}: cannot read ({exc.strerror or exc}); check the file")
            continue
        out.append(read)
        pictures.append((read, picture))
    if measure is not None and pictures:
        sizes = [(r.facts.width, r.facts.height) for r, _ in pictures]
        for (read, _), m in zip(pictures, measure([pic for _, pic in pictures], sizes), strict=True):
            read.measured = m
    return out


def _read_file(path: Path) -> tuple[FileRead, Image.Image]:
    """A file read, and its picture at most ``FINE`` px on the long side (for a measure)."""
    read, picture = _read_picture(load_image(path, draft=(2 * FINE, 2 * FINE)), path)
    st = path.stat()
    read.facts.bytes, read.facts.mtime = st.st_size, st.st_mtime
    return read, picture


def read_picture(img: Image.Image, path: Path, measure: Measure | None = None) -> FileRead:
    """What :func:`read_one` reads of a file, from a picture already decoded (an upload, in memory):
    ``img`` is 8-bit RGB as :func:`~lookalike.images.load_image` gives it, at least ``2 × FINE`` px on
    the long side where the picture has that many. ``path`` only names it; the facts' size is
    ``img.info["source_size"]`` (the stored size) where given, else ``img.size``; bytes and time are 0.

    >>> read_picture(Image.new("RGB", (640, 480)), Path("upload")).fine.shape  # doctest: +SKIP
    (192, 256)
    """
    return _measured(*_read_picture(img, path), measure)


def _measured(read: FileRead, picture: Image.Image, measure: Measure | None) -> FileRead:
    """``read`` with what ``measure`` learns of its ``picture``, if given."""
    if measure is not None:
        read.measured = measure([picture], [(read.facts.width, read.facts.height)])[0]
    return read


def _read_picture(img: Image.Image, path: Path) -> tuple[FileRead, Image.Image]:
    import numpy as np
    from PIL import Image

    width, height = img.info.get("source_size", img.size)
    scale = FINE / max(img.size)
    fine_rgb = img
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        fine_rgb = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    rgb = np.asarray(fine_rgb)
    box, subject = content_box(rgb), find_subject(rgb)
    thumbs = [_thumb(img, WHOLE)] + ([_thumb(img, box)] if box != WHOLE else [])
    fine = np.asarray(fine_rgb.convert("L"), dtype=np.uint8)
    return FileRead(FileFacts(path, width, height, 0, 0.0, box, subject), thumbs, fine), fine_rgb


#: Files smaller than this on average are read in one thread: their decoding is too short to release the
#: GIL for long, and threads only contend for it (CIFAR-10's 1 KB JPEGs: 0.48 ms a file in one thread,
#: 0.58 ms in two, 0.68 ms in four, on 2 cores).
SMALL_FILE = 32 << 10


#: Folders of at least this many small files are read in forked processes, one a core
#: (:mod:`lookalike.forked`), where the GIL keeps threads to one core.
FORK_LEAST = 2000


def default_workers(paths: Sequence[Path]) -> int:
    """Threads for reading ``paths``: one for small files (see :data:`SMALL_FILE`, judged on the first 64),
    else the cores and two more (decoding large files releases the GIL; the two cover waiting on disk)."""
    sample = []
    for p in paths[:64]:
        try:
            sample.append(p.stat().st_size)
        except OSError:
            continue
    if sample and sum(sample) / len(sample) < SMALL_FILE:
        return 1
    return min(8, (os.cpu_count() or 1) + 2)


def fork_processes(paths: Sequence[Path]) -> int:
    """Forked worker processes for reading ``paths`` (:func:`~lookalike.forked.processes_for`): one a core
    for :data:`FORK_LEAST` files or more when they are small (:func:`default_workers` gives them one
    thread), else 0."""
    return processes_for(len(paths), FORK_LEAST) if default_workers(paths) == 1 else 0


def read_fine(path: Path) -> npt.NDArray[np.uint8]:
    """The fine grey thumbnail of one file, read again."""
    return read_one(path).fine


def read_grey(path: Path, side: int) -> Image.Image:
    """One file as a grey image, its long side at most ``side`` (JPEG in draft mode): the close-up's."""
    return grey_picture(load_image(path, draft=(side, side)), side)


def grey_picture(img: Image.Image, side: int) -> Image.Image:
    """A decoded picture in grey, its long side at most ``side``: what :func:`read_grey` makes of a file."""
    from PIL import Image

    img = img.convert("L")
    scale = side / max(img.size)
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    return img


@dataclass
class Collection:
    """What :func:`read_all` read: readable files, the whole-image thumbnail of each (``whole[i]``, one
    array), the content-box thumbnails of those with a border (by file number), their fine thumbnails
    (``None`` where not kept), the files it could not read with the reason, and what ``measure`` learnt of
    each file read (``measured[i]``, when asked)."""

    files: list[FileFacts]
    whole: npt.NDArray[np.uint8]
    content: dict[int, npt.NDArray[np.uint8]]
    fines: list[npt.NDArray[np.uint8] | None]
    failures: list[tuple[Path, str]]
    measured: list[object] = field(default_factory=list)


def read_all(
    paths: Sequence[Path],
    progress: Progress | None = None,
    workers: int | None = None,
    fine_budget: int | None = None,
    measure: Measure | None = None,
) -> Collection:
    """Read every file in a thread pool (Pillow decodes without the GIL), or many small files in forked
    processes (:data:`FORK_LEAST`), in order; fine thumbnails are kept up to ``fine_budget`` bytes
    (default :data:`FINE_BUDGET`); ``measure`` runs on each picture."""
    import numpy as np

    whole = np.empty((len(paths), BASE, BASE, 3), np.uint8)  # (one array: no per-file allocations)
    out = Collection([], whole, {}, [], [])
    kept = 0
    budget = FINE_BUDGET if fine_budget is None else fine_budget

    def task(batch: Sequence[Path]) -> list[FileRead | str]:
        return read_batch(batch, measure)

    n_workers = workers if workers is not None else default_workers(paths)
    processes = fork_processes(paths) if workers is None else 0
    size = BATCH if processes or n_workers == 1 else 1  # (large files: one a task, for every thread)
    batches = [paths[i : i + size] for i in range(0, len(paths), size)]
    pool = ThreadPoolExecutor(max(1, n_workers))
    forked = forked_map(task, batches, processes=processes, chunk=4) if processes else None
    reads = chain.from_iterable(forked if forked is not None else pool.map(task, batches))
    try:
        for done, (path, res) in enumerate(zip(paths, reads, strict=True), 1):
            if isinstance(res, str):
                out.failures.append((path, res))
            else:
                keep = kept + res.fine.nbytes <= budget  # past the budget: read again if a pair needs it
                kept += res.fine.nbytes if keep else 0
                whole[len(out.files)] = res.thumbs[0]
                if len(res.thumbs) > 1:
                    out.content[len(out.files)] = res.thumbs[1]
                out.files.append(res.facts)
                # (copied here: what the workers made stays in their own heaps, and each small array kept
                # there would hold a freed decoding buffer's pages in memory)
                out.fines.append(res.fine.copy() if keep else None)
                if measure is not None:
                    out.measured.append(res.measured)
            if progress and (done % 64 == 0 or done == len(paths)):
                progress("reading", done, len(paths))
    finally:  # a progress callback may raise to cancel: drop the reads not started yet
        pool.shutdown(wait=True, cancel_futures=True)
        if forked is not None:
            forked.close()  # (the workers ended)
    out.whole = whole[: len(out.files)]
    return out


class SizedFile(Protocol):
    """A file and its size in bytes: a :class:`FileFacts`, or a group's
    :class:`~lookalike.dedup.results.Member`."""

    @property
    def path(self) -> Path: ...

    @property
    def bytes(self) -> int: ...


def content_ids(files: Sequence[SizedFile]) -> list[int]:
    """An id per file, equal for files with the same bytes: the index of the first file with those bytes
    (hashes only files whose size is shared; an unreadable file keeps its own index)."""
    by_size: dict[int, list[int]] = {}
    for i, f in enumerate(files):
        by_size.setdefault(f.bytes, []).append(i)
    ids = list(range(len(files)))
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        first: dict[str, int] = {}
        for i in same_size:
            try:
                digest = file_sha256(files[i].path)
            except OSError:
                continue
            ids[i] = first.setdefault(digest, i)
    return ids
