"""Fixtures of the collection tests: deterministic weights in a file and embedders made from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from collection.index_support import SIZE
from lookalike.features import Embedder


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random CIFAR-stem ResNet-18 weights saved to a file: the same vectors in every process."""
    import torch

    from lookalike.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-random.pt"
    torch.save(create_model("resnet18", num_classes=10, cifar_stem=True).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def embedder(weights: Path) -> Embedder:
    return Embedder(weights, size=SIZE, batch_size=8, num_workers=0, device="cpu", precision="float32")


@pytest.fixture(scope="session")
def random_embedder() -> Embedder:
    """Random weights that exist only in this process (``--weights none``)."""
    return Embedder("none", model="resnet18", size=SIZE, num_workers=0, device="cpu")
