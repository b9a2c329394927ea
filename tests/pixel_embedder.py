"""A stand-in for :class:`lookalike.features.Embedder` that needs no torch: a file's vector is the pixels
of a 12×12 thumbnail. The kill -9 tests use it so that their child processes start in a second; the
store cannot tell the difference (it only calls ``describe``, ``dim`` and ``iter_files``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.errors import ImageError
from lookalike.images import load_image

SIDE = 12


@dataclass
class Batch:
    indices: list[int]
    vectors: np.ndarray
    failures: list[tuple[int, str]]


class PixelEmbedder:
    dim = SIDE * SIDE * 3
    precision = "float32"

    def __init__(self, batch_size: int = 4) -> None:
        self.batch_size = batch_size

    def describe(self) -> dict[str, Any]:
        return {
            "model": "pixels",
            "cifar_stem": False,
            "weights": "pixels",
            "fingerprint": f"pixels-{SIDE}",
            "dim": self.dim,
            "crop_size": SIDE,
            "resize_size": SIDE,
            "mean": [0.0, 0.0, 0.0],
            "std": [1.0, 1.0, 1.0],
            "interpolation": "bilinear",
            "precision": self.precision,
        }

    def iter_files(self, paths: Sequence[str | os.PathLike[str]]) -> Iterator[Batch]:
        for start in range(0, len(paths), self.batch_size):
            indices, vectors, failures = [], [], []
            for i in range(start, min(len(paths), start + self.batch_size)):
                try:
                    img = load_image(paths[i]).resize((SIDE, SIDE))
                except ImageError as exc:
                    failures.append((i, str(exc)))
                    continue
                indices.append(i)
                vectors.append(np.asarray(img, dtype=np.float32).ravel() / 255.0)
            yield Batch(indices, np.array(vectors, dtype=np.float32).reshape(-1, self.dim), failures)
