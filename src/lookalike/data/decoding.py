"""Decoding image files to uint8 N×3×S×S in worker processes (:func:`decode_files`): each is resized
(shorter side) and centre-cropped; unreadable files are reported, not raised."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.data.imageset import Progress
from lookalike.errors import ImageError
from lookalike.images import load_image

if TYPE_CHECKING:
    import numpy as np
    import torch


class _Decode:
    """One file → (index, uint8 3×S×S array or None, error or None); run in DataLoader worker processes."""

    def __init__(self, files: Sequence[Path], size: int, resize: int) -> None:
        self.files, self.size, self.resize = files, size, resize

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        import numpy as np

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
