"""Datasets for training and evaluation: labelled images as one uint8 tensor, decoded once.

* :func:`load_data` — ``"cifar10"`` (torchvision's CIFAR10: a local torchvision folder or a download), a
  folder in ImageFolder layout (``DIR/<class>/…/image.jpg``, class index = sorted folder order), or a
  ``.zip`` of such a folder. The result is an :class:`ImageSet`: uint8 N×3×S×S images, labels, class names.
* A folder is decoded once, in worker processes, into a cache file (``$LOOKALIKE_CACHE`` or
  ``~/.cache/lookalike``) keyed by its files' paths, sizes and modification times and by the image size,
  so later runs start in seconds. Unreadable files are skipped and listed in :attr:`ImageSet.skipped`.
* :func:`split_indices` — a fixed-seed, class-stratified train/validation split; :func:`channel_stats` —
  mean and std per channel, to be computed on the training split only.
* :class:`DeviceBatches` — the whole training split resident on the device as uint8, shuffled and
  augmented per image (random translate by reflect-padded crop, horizontal flip) in one batched gather.

>>> from lookalike.data import load_data, split_indices, channel_stats
>>> data = load_data("../shared/datasets/cifar10/train")  # doctest: +SKIP
>>> train_idx, val_idx = split_indices(data.labels, 0.1, seed=0)  # doctest: +SKIP
>>> channel_stats(data.images[train_idx])  # doctest: +SKIP
((0.4913, 0.4821, 0.4465), (0.2452, 0.2428, 0.2606))
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from lookalike.download import check_reachable, network_timeout, reason
from lookalike.errors import DataError, ImageError

if TYPE_CHECKING:
    import numpy as np
    import torch

#: Environment variable that moves the decoded-image cache (default ``~/.cache/lookalike``).
CACHE_ENV = "LOOKALIKE_CACHE"
CACHE_FORMAT = "lookalike-image-cache"
CACHE_VERSION = 1
CIFAR10_NAME = "cifar10"

#: ``progress(done, total)``: called as work advances (images decoded, batches evaluated, …).
Progress = Callable[[int, int], None]
Stats = tuple[tuple[float, float, float], tuple[float, float, float]]
FlipMode = Literal["none", "random", "alternate"]


@dataclass
class ImageSet:
    """Labelled images held in memory: ``images`` uint8 N×3×H×W, ``labels`` int64 N (CPU tensors).

    ``source`` says where they came from, ``key`` identifies the decoded content (a cache key, or the
    dataset name), ``files`` are the images' paths relative to the folder (folders only), ``skipped`` the
    files that could not be read as ``(path, reason)``, and ``cached`` whether the decoded cache was reused.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    source: str
    key: str
    files: tuple[str, ...] | None = None
    skipped: tuple[tuple[str, str], ...] = ()
    cache_path: Path | None = None
    cached: bool = False

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def size(self) -> int:
        """Side of the (square) images in pixels."""
        return int(self.images.shape[-1])

    def subset(self, indices: torch.Tensor) -> ImageSet:
        """The images at ``indices`` (a 1-d integer tensor), same classes and source."""
        files = tuple(self.files[int(i)] for i in indices) if self.files is not None else None
        return replace(self, images=self.images[indices], labels=self.labels[indices], files=files)


# ----------------------------------------------------------------------------------------------------------
# Loading


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where decoded images (and a downloaded CIFAR-10) are kept: ``override``, ``$LOOKALIKE_CACHE``,
    ``$XDG_CACHE_HOME/lookalike`` or ``~/.cache/lookalike``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lookalike"


def load_data(
    spec: str | os.PathLike[str],
    *,
    size: int = 32,
    resize: int | None = None,
    train: bool = True,
    root: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImageSet:
    """Load a labelled dataset: ``"cifar10"``, an ImageFolder tree, or a ``.zip`` of one.

    Images come back S×S with S = ``size``: each is resized so its shorter side is ``resize`` (default
    ``size``) and centre-cropped, as :class:`lookalike.features.Embedder` preprocesses. ``train`` picks
    CIFAR-10's training or test split (folders have one split). ``root`` is where torchvision keeps
    CIFAR-10 (default ``<cache>/cifar10``); ``cache`` overrides :func:`cache_dir`. Raises
    :class:`DataError` with one actionable line.

    >>> load_data("../shared/datasets/cifar10/train").images.shape  # doctest: +SKIP
    torch.Size([50000, 3, 32, 32])
    """
    if size < 8:
        raise DataError(f"image size {size} is too small; use at least 8 pixels (--size)")
    resize = size if resize is None else resize
    if resize < size:
        raise DataError(f"resize {resize} is smaller than the crop size {size}")
    text = os.fspath(spec)
    if text.strip().lower() == CIFAR10_NAME:
        if (size, resize) != (32, 32):
            raise DataError(f"CIFAR-10 images are 32×32; drop --size {size} or pass an image folder")
        base = Path(root).expanduser() if root is not None else cache_dir(cache) / CIFAR10_NAME
        return load_cifar10(base, train=train)
    path = Path(text).expanduser()
    if path.is_dir():
        return load_folder(path, size=size, resize=resize, cache=cache, workers=workers, progress=progress)
    if path.is_file() and zipfile.is_zipfile(path):
        return load_zip(path, size=size, resize=resize, cache=cache, workers=workers, progress=progress)
    if path.is_file():
        raise DataError(
            f"{text} is a file, not a folder of class subfolders or a .zip of one; pass "
            "--data DIR with DIR/<class>/image.jpg, or --data cifar10"
        )
    raise DataError(
        f"no such folder: {text}; pass --data DIR (an ImageFolder tree such as "
        "../shared/datasets/cifar10/train), a .zip of one, or --data cifar10"
    )


def load_cifar10(root: str | os.PathLike[str], *, train: bool = True, download: bool = True) -> ImageSet:
    """CIFAR-10 through ``torchvision.datasets.CIFAR10``, downloaded into ``root`` when missing.

    Offline, the download fails within seconds with a :class:`DataError` that says how to pass a folder.
    """
    import torch
    from torchvision.datasets import CIFAR10

    base = Path(root)
    split = "train" if train else "test"
    try:
        # torchvision prints "Files already downloaded" to stdout; keep stdout for --json output.
        with contextlib.redirect_stdout(sys.stderr):
            try:
                ds = CIFAR10(str(base), train=train, download=False)
            except RuntimeError:
                if not download:
                    raise
                check_reachable(CIFAR10.url)
                with network_timeout():
                    ds = CIFAR10(str(base), train=train, download=True)
    except Exception as exc:  # URLError, timeouts, DNS failures, a damaged archive
        raise DataError(
            f"could not get CIFAR-10 into {base} ({reason(exc)}); offline, pass an image folder instead, "
            "e.g. --data ../shared/datasets/cifar10/train, or put cifar-10-python.tar.gz in "
            f"{base} (--data-root)"
        ) from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(ds.targets, dtype=torch.int64)
    return ImageSet(images, labels, tuple(ds.classes), source=f"cifar10:{split}", key=f"cifar10:{split}")


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
    files, labels, names = _scan_folder(top)
    rel = [p.relative_to(top).as_posix() for p in files]
    key = _folder_key(files, rel, names, size, resize)
    target = cache_dir(cache) / "datasets" / f"{_slug(top)}-{size}px-{key[:16]}.pt"
    cached = _read_cache(target, key)
    if cached is not None:
        return _from_cache(cached, str(top), target)
    return _decode_folder(
        top,
        files,
        labels,
        names,
        rel,
        key=key,
        target=target,
        source=str(top),
        size=size,
        resize=resize,
        workers=workers,
        progress=progress,
    )


def _scan_folder(top: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """Image files, their class indices and the class names of an ImageFolder tree."""
    from lookalike.images import list_images

    classes = class_folders(top)
    if not classes:
        raise DataError(
            f"{top} has no class subfolders; arrange images as {top}/<class>/image.jpg (one folder per class)"
        )
    files: list[Path] = []
    labels: list[int] = []
    for index, folder in enumerate(classes):
        try:
            found = list_images(folder)
        except ImageError as exc:
            raise DataError(str(exc)) from None
        if not found:
            raise DataError(f"class folder {folder} holds no images; add images or remove the folder")
        files += found
        labels += [index] * len(found)
    return files, labels, tuple(p.name for p in classes)


def _decode_folder(
    top: Path,
    files: list[Path],
    labels: list[int],
    names: tuple[str, ...],
    rel: list[str],
    *,
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


def _from_cache(payload: dict[str, Any], source: str, target: Path) -> ImageSet:
    return ImageSet(
        payload["images"],
        payload["labels"],
        tuple(payload["classes"]),
        source,
        payload["key"],
        tuple(payload["files"]),
        tuple((str(p), str(r)) for p, r in payload["skipped"]),
        target,
        cached=True,
    )


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
        top = _zip_root(Path(tmp))
        files, labels, names = _scan_folder(top)
        rel = [p.relative_to(top).as_posix() for p in files]
        return _decode_folder(
            top,
            files,
            labels,
            names,
            rel,
            key=key,
            target=target,
            source=str(zpath),
            size=size,
            resize=resize,
            workers=workers,
            progress=progress,
        )


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


def _slug(path: Path) -> str:
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:40]
    return name or "data"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _folder_key(
    files: Sequence[Path], rel: Sequence[str], classes: Sequence[str], size: int, resize: int
) -> str:
    h = hashlib.sha256(f"{CACHE_FORMAT}\0{CACHE_VERSION}\0{size}\0{resize}\0{'/'.join(classes)}\n".encode())
    for path, name in zip(files, rel, strict=True):
        try:
            st = path.stat()
            h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{name}\0missing\n".encode())
    return h.hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, Any] | None:
    """The cache payload at ``path`` if it is whole and made for ``key``, else ``None`` (decode again)."""
    import torch

    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # truncated or foreign: decode again and overwrite it
        return None
    if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT or obj.get("key") != key:
        return None
    if obj.get("version") != CACHE_VERSION:
        return None
    return obj


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: readers never see half a file."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file through ``write(binary_file)`` atomically (temporary file, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# ----------------------------------------------------------------------------------------------------------
# Decoding


class _Decode:
    """One file → (index, uint8 3×S×S array or None, error or None); run in DataLoader worker processes."""

    def __init__(self, files: Sequence[Path], size: int, resize: int) -> None:
        self.files, self.size, self.resize = files, size, resize

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        import numpy as np

        from lookalike.images import load_image

        try:
            img = load_image(self.files[i], draft=(self.resize, self.resize))
        except ImageError as exc:
            return i, None, str(exc)
        if img.size != (self.size, self.size) or self.resize != self.size:
            from torchvision.transforms import InterpolationMode
            from torchvision.transforms.v2 import functional as tf

            img = tf.resize(img, self.resize, interpolation=InterpolationMode.BILINEAR, antialias=True)
            img = tf.center_crop(img, [self.size, self.size])
        return i, np.array(img, dtype=np.uint8).transpose(2, 0, 1), None


def _collate_decoded(items: list[Any]) -> list[Any]:
    return items


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


def decode_files(
    files: Sequence[Path],
    *,
    size: int,
    resize: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, np.ndarray, list[tuple[int, str]]]:
    """Decode ``files`` to uint8 N×3×S×S in worker processes: ``(images, ok mask, [(index, reason)])``.

    Rows of unreadable files stay zero and are ``False`` in the mask. ``workers`` defaults to one per
    core (at most 8) for more than 2,000 files, else decoding runs in this process.
    """
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    n = len(files)
    resize = size if resize is None else resize
    images = torch.zeros(n, 3, size, size, dtype=torch.uint8)
    ok = np.zeros(n, dtype=bool)
    failures: list[tuple[int, str]] = []
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if n > 2000 else 0
    dataset: Any = _Decode(files, size, resize)
    loader: Any = DataLoader(
        dataset,
        batch_size=256,
        num_workers=workers,
        collate_fn=_collate_decoded,
        worker_init_fn=_worker_init if workers else None,
    )
    done = 0
    if progress:
        progress(0, n)
    for batch in loader:
        for i, arr, err in batch:
            if arr is None:
                failures.append((i, err))
            else:
                images[i] = torch.from_numpy(arr)
                ok[i] = True
        done += len(batch)
        if progress:
            progress(done, n)
    return images, ok, failures


# ----------------------------------------------------------------------------------------------------------
# Splits and statistics


def split_indices(
    labels: torch.Tensor, val_fraction: float, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed-seed train/validation split, stratified: each class gives ``val_fraction`` of its images.

    ``round(N · val_fraction)`` images are held out in all, shared among the classes in proportion to
    their sizes (largest remainder first), so small sets still get a validation split. Returns sorted
    int64 index tensors ``(train, val)``; ``val`` is empty for ``val_fraction=0``. The same labels,
    fraction and seed always give the same split, whatever the training seed.

    >>> import torch
    >>> train, val = split_indices(torch.arange(10) % 2, 0.2, seed=0)
    >>> len(train), len(val)
    (8, 2)
    """
    import torch

    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"validation split {val_fraction} must be in [0, 1), e.g. --val-split 0.1")
    classes = torch.unique(labels).tolist()
    members = [(labels == c).nonzero().flatten() for c in classes]
    quotas = [len(m) * val_fraction for m in members]
    counts = [int(q) for q in quotas]
    spare = round(len(labels) * val_fraction) - sum(counts)
    by_remainder = sorted(range(len(classes)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: max(0, spare)]:
        counts[i] += 1
    g = torch.Generator().manual_seed(seed)
    val_parts = [
        idx[torch.randperm(len(idx), generator=g)[:k]] for idx, k in zip(members, counts, strict=True)
    ]
    val = torch.sort(torch.cat(val_parts)).values if val_parts else torch.empty(0, dtype=torch.int64)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[val] = False
    train = mask.nonzero().flatten()
    if val_fraction > 0 and len(val) == 0:
        raise DataError(
            f"{len(labels)} images are too few for a {val_fraction:g} validation split; add "
            "images or pass --val-split 0"
        )
    if len(train) == 0:
        raise DataError(f"the {val_fraction:g} validation split leaves no training images; lower --val-split")
    return train, val


def subsample(labels: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` indices drawn evenly from every class (round-robin over shuffled classes), sorted.

    >>> import torch
    >>> subsample(torch.tensor([0, 0, 0, 1, 1, 1]), 4, seed=0).tolist()  # two of each class
    [0, 2, 3, 4]
    """
    import torch

    if n < 1:
        raise DataError(f"--limit {n} must be at least 1")
    if n >= len(labels):
        return torch.arange(len(labels))
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    # rank of each image within its class in the shuffled order; take low ranks first, class by class
    shuffled = labels[order]
    rank = torch.zeros(len(labels), dtype=torch.int64)
    for c in torch.unique(labels).tolist():
        where = (shuffled == c).nonzero().flatten()
        rank[where] = torch.arange(len(where))
    picked = order[torch.argsort(rank * (int(labels.max()) + 1) + shuffled, stable=True)[:n]]
    return torch.sort(picked).values


def channel_stats(images: torch.Tensor, *, chunk: int = 4096) -> Stats:
    """Per-channel mean and (population) std of uint8 N×3×H×W images scaled to [0, 1], in float64.

    Compute them on the training split only, so validation images leave no trace in the model.
    """
    import torch

    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise DataError(f"channel statistics need N×3×H×W images, got {tuple(images.shape)}")
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64).div_(255.0)
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return (
        tuple(round(float(v), 6) for v in mean),  # type: ignore[return-value]
        tuple(round(float(v), 6) for v in std),
    )


# ----------------------------------------------------------------------------------------------------------
# Batches


def mix_seed(*parts: int) -> int:
    """A 63-bit generator seed from integers (same on every machine and process, unlike ``hash(str)``)."""
    h = hashlib.sha256(b"".join(int(p).to_bytes(8, "little", signed=True) for p in parts)).digest()
    return int.from_bytes(h[:8], "little") & (2**63 - 1)


def normalize(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, channels_last: bool = False
) -> torch.Tensor:
    """uint8 N×3×H×W → float32 ``(x/255 - mean) / std`` on the images' device."""
    import torch

    m = torch.tensor(mean, device=images.device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=torch.float32).view(1, 3, 1, 1)
    x = images.to(torch.float32).mul_(1.0 / 255.0).sub_(m).div_(s)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def crop_flip(images: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Translate each image by ``shifts[i] - pad`` pixels (dy, dx) with reflected borders — a random crop of
    the reflect-padded image — and mirror it where ``flips[i]``: one gather for the whole batch.

    ``images`` N×C×H×W (any dtype), ``shifts`` N×2 integers in ``[0, 2·pad]``, ``flips`` N bools.
    """
    import torch

    n, _, h, w = images.shape
    dev = images.device
    rows = shifts[:, 0:1].to(dev) - pad + torch.arange(h, device=dev)  # N×H source rows
    cols = shifts[:, 1:2].to(dev) - pad + torch.arange(w, device=dev)  # N×W source cols
    cols = torch.where(flips.to(dev)[:, None], cols.flip(1), cols)
    rows = _reflect(rows, h)
    cols = _reflect(cols, w)
    batch = torch.arange(n, device=dev)[:, None, None]
    out = images[batch, :, rows[:, :, None], cols[:, None, :]]  # N×H×W×C (advanced indices first)
    return out.permute(0, 3, 1, 2)


def _reflect(index: torch.Tensor, n: int) -> torch.Tensor:
    """Reflect out-of-range indices as ``F.pad(mode="reflect")`` does (edge not repeated)."""
    import torch

    index = index.abs()
    return torch.where(index >= n, 2 * (n - 1) - index, index)


class DeviceBatches:
    """The training split resident on ``device`` as uint8, served as normalised, augmented batches.

    Every epoch draws one permutation and one crop offset per image from generators seeded by
    ``(seed, epoch)`` on the CPU, so a run is reproducible on any device, a resumed run sees the same
    batches as an uninterrupted one, and all DistributedDataParallel replicas agree. Each step takes
    ``batch_size`` images of the permutation (all processes together); process ``rank`` of ``world``
    gets its contiguous ``batch_size / world`` share, as ``DistributedSampler`` would. The last partial
    batch is dropped (fixed shapes: no recompilation under ``torch.compile``).

    ``flip``: ``"random"`` mirrors each image with probability ½ every epoch; ``"alternate"`` mirrors a
    fixed random half on even epochs and the other half on odd ones (airbench's alternating flip: every
    image is seen both ways every two epochs, with less redundancy than independent coin flips).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str,
        seed: int,
        pad: int = 0,
        flip: FlipMode = "none",
        channels_last: bool = False,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        import torch

        if batch_size % world:
            raise DataError(f"batch size {batch_size} must divide evenly over {world} processes")
        self.device = torch.device(device)
        self.images = images.to(self.device, non_blocking=True)
        self.labels = labels.to(self.device, non_blocking=True)
        self.batch_size, self.mean, self.std, self.seed = batch_size, tuple(mean), tuple(std), seed
        self.pad, self.flip, self.channels_last = pad, flip, channels_last
        self.rank, self.world = rank, world
        g = torch.Generator().manual_seed(mix_seed(seed, -1, 3))
        self._flip_base = torch.rand(len(labels), generator=g) < 0.5

    def __len__(self) -> int:
        """Optimizer steps per epoch."""
        return len(self.labels) // self.batch_size

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch`` (0-based) for this process: (normalised float images, labels)."""
        import torch

        n = len(self.labels)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(mix_seed(self.seed, epoch, 0)))
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 1))
        shifts = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=g)
        if self.flip == "random":
            flips = torch.rand(n, generator=g) < 0.5
        elif self.flip == "alternate":
            flips = self._flip_base ^ bool(epoch % 2)
        else:
            flips = torch.zeros(n, dtype=torch.bool)
        perm_d = perm.to(self.device)
        shifts_d, flips_d = shifts.to(self.device), flips.to(self.device)
        share = self.batch_size // self.world
        for step in range(len(self)):
            lo = step * self.batch_size + self.rank * share
            idx = perm_d[lo : lo + share]
            x = self.images[idx]
            if self.pad or self.flip != "none":
                x = crop_flip(x, shifts_d[idx], flips_d[idx], self.pad)
            yield normalize(x, self.mean, self.std, channels_last=self.channels_last), self.labels[idx]


class PerImageDataset:
    """The lecture's input pipeline: each image becomes a PIL image, then ``ToTensor`` + ``Normalize`` on the
    CPU, one at a time, in DataLoader workers (what ``torchvision.datasets.CIFAR10(transform=…)`` does)."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float]
    ) -> None:
        from torchvision import transforms

        self.hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
        self.labels = labels.tolist()
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize(list(mean), list(std))]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.hwc[i])), self.labels[i]
