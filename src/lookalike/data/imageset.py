"""Labelled images in memory (:class:`ImageSet`) and the names the data modules share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
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
