"""One entry point for every labelled dataset (:func:`load_data`: ``"cifar10"``, a folder, a ``.zip``)
and CIFAR-10 through torchvision (:func:`load_cifar10`)."""

from __future__ import annotations

import contextlib
import os
import sys
import zipfile
from pathlib import Path

from lookalike.data.cache import cache_dir
from lookalike.data.folders import load_folder, load_zip
from lookalike.data.imageset import CIFAR10_NAME, ImageSet, Progress
from lookalike.download import check_reachable, network_timeout, reason
from lookalike.errors import DataError


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

    >>> load_data("cifar10/train").images.shape  # doctest: +SKIP
    torch.Size([50000, 3, 32, 32])
    """
    if size < 8:
        raise DataError(f"image size {size} is too small", "pass a `size` of at least 8 pixels")
    resize = size if resize is None else resize
    if resize < size:
        raise DataError(f"resize {resize} is smaller than the crop size {size}")
    text = os.fspath(spec)
    if text.strip().lower() == CIFAR10_NAME:
        if (size, resize) != (32, 32):
            raise DataError(
                f"CIFAR-10 images are 32×32, not {size}×{size}",
                "drop `size` or pass an image folder as `data`",
            )
        base = Path(root).expanduser() if root is not None else cache_dir(cache) / CIFAR10_NAME
        return load_cifar10(base, train=train)
    path = Path(text).expanduser()
    if path.is_dir():
        return load_folder(path, size=size, resize=resize, cache=cache, workers=workers, progress=progress)
    if path.is_file() and zipfile.is_zipfile(path):
        return load_zip(path, size=size, resize=resize, cache=cache, workers=workers, progress=progress)
    if path.is_file():
        raise DataError(
            f"{text} is a file, not a folder of class subfolders or a .zip of one",
            "pass as `data` a folder DIR with DIR/<class>/image.jpg, or `data=cifar10`",
        )
    raise DataError(
        f"no such folder: {text}",
        "pass as `data` an ImageFolder tree (DIR/<class>/image.jpg, e.g. cifar10/train), a .zip of one, "
        "or `data=cifar10`",
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
        # torchvision prints "Files already downloaded" to stdout; keep stdout for JSON output.
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
            f"could not get CIFAR-10 into {base} ({reason(exc)})",
            "offline, pass an image folder instead, e.g. `data=cifar10/train`, or put "
            f"cifar-10-python.tar.gz in {base} (`data_root`)",
        ) from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(ds.targets, dtype=torch.int64)
    return ImageSet(images, labels, tuple(ds.classes), source=f"cifar10:{split}", key=f"cifar10:{split}")
