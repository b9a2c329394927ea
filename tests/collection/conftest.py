"""Fixtures of the collection tests: embedders made from the session's deterministic ``weights`` file
(tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collection.index_support import SIZE
from lookalike.features import Embedder


@pytest.fixture(scope="session")
def embedder(weights: Path) -> Embedder:
    return Embedder(weights, size=SIZE, batch_size=8, num_workers=0, device="cpu", precision="float32")


@pytest.fixture(scope="session")
def random_embedder() -> Embedder:
    """Random weights that exist only in this process (``--weights none``)."""
    return Embedder("none", model="resnet18", size=SIZE, num_workers=0, device="cpu")
