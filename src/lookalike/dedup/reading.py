"""Reading a collection once: each file's facts, its 32×32 colour thumbnail and its fine grey thumbnail.

Each file is decoded once (JPEG in draft mode, at no less than twice the fine thumbnail's size); both
thumbnails come from that decode. Fine thumbnails (:data:`~lookalike.dedup.fine.FINE` px on the long side,
about 50 KB each for photos and pages) are kept in memory up to ``fine_budget`` bytes; past it, the rest are
read again only if a candidate pair needs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.dedup.coarse import BASE
from lookalike.dedup.fine import FINE, fine_thumbnail
from lookalike.errors import ImageError
from lookalike.hashing import file_sha256
from lookalike.images import load_image

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

#: ``progress(stage, done, total)``: stage is "reading", "embedding" or "verifying".
Progress = Callable[[str, int, int], None]
#: Memory for fine thumbnails kept from the first read (bytes).
FINE_BUDGET = 1 << 30


@dataclass
class FileFacts:
    path: Path
    width: int
    height: int
    bytes: int
    mtime: float


def read_one(path: Path) -> tuple[FileFacts, npt.NDArray[np.uint8], Image.Image]:
    """Facts, the BASE×BASE RGB thumbnail (the whole image squashed to a square) and the fine grey
    thumbnail of one file. Raises :class:`ImageError` for every way a file can be unreadable."""
    import numpy as np
    from PIL import Image

    img = load_image(path, draft=(2 * FINE, 2 * FINE))
    width, height = img.info["source_size"]  # the stored size, before the draft
    thumb = np.asarray(img.resize((BASE, BASE), Image.Resampling.BILINEAR, reducing_gap=3.0), dtype=np.uint8)
    st = path.stat()
    return FileFacts(path, width, height, st.st_size, st.st_mtime), thumb, fine_thumbnail(img)


def read_fine(path: Path) -> Image.Image:
    """The fine grey thumbnail of one file, read again."""
    return read_one(path)[2]


@dataclass
class Collection:
    """What :func:`read_all` read: readable files, their thumbnails (fine ones ``None`` when not kept), and
    the files it could not read with the reason."""

    files: list[FileFacts]
    thumbs: list[npt.NDArray[np.uint8]]
    fines: list[Image.Image | None]
    failures: list[tuple[Path, str]]


def read_all(
    paths: Sequence[Path],
    progress: Progress | None = None,
    workers: int | None = None,
    fine_budget: int | None = None,
) -> Collection:
    """Read every file in a thread pool (Pillow decodes without the GIL), in order; fine thumbnails are
    kept up to ``fine_budget`` bytes (default :data:`FINE_BUDGET`)."""
    out = Collection([], [], [], [])
    kept = 0
    budget = FINE_BUDGET if fine_budget is None else fine_budget

    def task(p: Path) -> tuple[FileFacts, npt.NDArray[np.uint8], Image.Image] | str:
        try:
            return read_one(p)
        except ImageError as exc:
            return str(exc)
        except OSError as exc:
            return f"{p}: cannot read ({exc.strerror or exc}); check the file"

    n_workers = workers if workers is not None else min(8, (os.cpu_count() or 1) + 2)
    pool = ThreadPoolExecutor(max(1, n_workers))
    try:
        for done, (path, res) in enumerate(zip(paths, pool.map(task, paths), strict=True), 1):
            if isinstance(res, str):
                out.failures.append((path, res))
            else:
                facts, thumb, fine = res
                size = fine.width * fine.height
                keep = kept + size <= budget  # past the budget: read again if a pair needs it
                kept += size if keep else 0
                out.files.append(facts)
                out.thumbs.append(thumb)
                out.fines.append(fine if keep else None)
            if progress and (done % 64 == 0 or done == len(paths)):
                progress("reading", done, len(paths))
    finally:  # a progress callback may raise to cancel: drop the reads not started yet
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def content_ids(files: Sequence[FileFacts]) -> list[int]:
    """An id per file, equal for files with the same bytes (hashes only files whose size is shared)."""
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
