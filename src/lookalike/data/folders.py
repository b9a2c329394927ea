"""ImageFolder trees (``DIR/<class>/…/image.jpg``, class index = sorted folder order) and ``.zip`` files of
them, decoded once into the cache (:func:`load_folder`, :func:`load_zip`)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple

from lookalike.data.cache import _folder_key, _from_cache, _hash, _read_cache, _slug, atomic_save, cache_dir
from lookalike.data.decoding import decode_files
from lookalike.data.imageset import CACHE_FORMAT, CACHE_VERSION, ImageSet, Progress
from lookalike.download import reason
from lookalike.errors import DataError, ImageError
from lookalike.scanning import scan_images


def class_folders(root: Path) -> list[Path]:
    """The class subfolders of an ImageFolder tree, in class-index (sorted) order; hidden ones skipped."""
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise DataError(
            f"{root}: cannot list the folder ({exc.strerror or exc}); check its permissions"
        ) from None
    return [p for p in entries if p.is_dir() and not p.name.startswith(".")]


def load_folder(
    root: str | os.PathLike[str],
    *,
    size: int = 32,
    resize: int | None = None,
    cache: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImageSet:
    """Decode an ImageFolder tree (``root/<class>/…/image``) into an :class:`ImageSet`, using the cache.

    The cache file is named after a hash of every image's relative path, byte size and modification time
    and of ``size``/``resize``: touching, adding or removing a file decodes again.
    """
    top = Path(root)
    resize = size if resize is None else resize
    scan = _scan_folder(top)
    key = _folder_key(scan.files, scan.rel, scan.names, size, resize)
    target = cache_dir(cache) / "datasets" / f"{_slug(top)}-{size}px-{key[:16]}.pt"
    cached = _read_cache(target, key)
    if cached is not None:
        return _from_cache(cached, str(top), target)
    return _decode_folder(scan, key, target, str(top), size, resize, workers, progress)


class _Scan(NamedTuple):
    """An ImageFolder tree's image files, their class indices, the class names and the files' paths
    relative to the tree (``cat/1.jpg``)."""

    top: Path
    files: list[Path]
    labels: list[int]
    names: tuple[str, ...]
    rel: list[str]


def _scan_folder(top: Path) -> _Scan:
    """The image files, their class indices and the class names of an ImageFolder tree."""
    classes = class_folders(top)
    if not classes:
        raise DataError(
            f"{top} has no class subfolders; arrange images as {top}/<class>/image.jpg (one folder per class)"
        )
    files: list[Path] = []
    labels: list[int] = []
    for index, folder in enumerate(classes):
        try:
            scan = scan_images(folder)
        except ImageError as exc:
            raise DataError(str(exc)) from None
        found = scan.paths
        if not found:
            why = "; ".join(scan.skipped.lines()[:1]) or "add images or remove the folder"
            raise DataError(f"class folder {folder} holds no images lookalike can read: {why}")
        files += found
        labels += [index] * len(found)
    rel = [p.relative_to(top).as_posix() for p in files]
    return _Scan(top, files, labels, tuple(p.name for p in classes), rel)


def _decode_folder(
    scan: _Scan,
    key: str,
    target: Path,
    source: str,
    size: int,
    resize: int,
    workers: int | None,
    progress: Progress | None,
) -> ImageSet:
    """Decode the files, drop the unreadable ones, write the cache (atomically) and return the set."""
    import torch

    top, files, labels, names, rel = scan
    images, ok, failures = decode_files(files, size=size, resize=resize, workers=workers, progress=progress)
    skipped = tuple((rel[i], why) for i, why in failures)
    if not ok.any():
        raise DataError(f"none of the {len(files)} images in {top} could be read (e.g. {failures[0][1]})")
    keep = torch.from_numpy(ok)
    if not ok.all():
        images = images[keep]
    label_t = torch.tensor(labels, dtype=torch.int64)[keep]
    kept_files = tuple(r for r, good in zip(rel, ok.tolist(), strict=True) if good)
    payload = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "key": key,
        "images": images,
        "labels": label_t,
        "classes": list(names),
        "files": list(kept_files),
        "skipped": [list(s) for s in skipped],
    }
    written: Path | None = target
    try:
        atomic_save(payload, target)
    except OSError:
        written = None  # a read-only cache folder costs time on the next run, not this one
    return ImageSet(images, label_t, names, source, key, kept_files, skipped, written, cached=False)


def load_zip(
    path: str | os.PathLike[str],
    *,
    size: int = 32,
    resize: int | None = None,
    cache: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImageSet:
    """A ``.zip`` of an ImageFolder tree (as ``python -m zipfile -c data.zip train/`` makes it).

    It is extracted to a temporary folder only when its decoded cache is missing; the cache is keyed by
    the zip's absolute path, byte size and modification time.
    """
    zpath = Path(path).resolve()
    st = zpath.stat()
    resize = size if resize is None else resize
    key = _hash(f"zip\0{zpath}\0{st.st_size}\0{st.st_mtime_ns}\0{size}\0{resize}\0{CACHE_VERSION}")
    base = cache_dir(cache)
    target = base / "datasets" / f"{_slug(zpath)}-{size}px-{key[:16]}.pt"
    cached = _read_cache(target, key)
    if cached is not None:
        return _from_cache(cached, str(zpath), target)
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unzip-", dir=base) as tmp:
        try:
            with zipfile.ZipFile(zpath) as zf:
                zf.extractall(tmp)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(
                f"{zpath} is not a readable zip ({reason(exc)}); pack it again with "
                "python -m zipfile -c DATA.zip FOLDER"
            ) from None
        scan = _scan_folder(_zip_root(Path(tmp)))
        return _decode_folder(scan, key, target, str(zpath), size, resize, workers, progress)


def _zip_root(top: Path) -> Path:
    """Descend through single wrapper folders (``train/``) to the folder whose subfolders are classes."""
    while True:
        entries = [p for p in top.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if (
            len(entries) == 1
            and entries[0].is_dir()
            and all(c.is_dir() for c in entries[0].iterdir() if not c.name.startswith("."))
        ):
            top = entries[0]
            continue
        return top
