"""Fixtures of the data tests: a private decoded-image cache, and small ImageFolder trees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TreeMaker = Callable[..., Path]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("LOOKALIKE_CACHE", str(cache))
    return cache


def make_tree(
    root: Path,
    classes: tuple[str, ...] = ("cat", "dog", "frog"),
    per_class: int = 4,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
) -> Path:
    """An ImageFolder tree of random-colour PNGs, one folder per class."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            pixels[..., c % 3] = (40 * i) % 256  # something per class and per image
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(name="make_tree")
def _make_tree() -> TreeMaker:
    """:func:`make_tree`, for tests that build their own trees."""
    return make_tree
