"""Where the tests find ``../shared`` (the CIFAR-10 JPEGs and the ResNet-18 trained on them), and the
markers that skip a test on a machine without it."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "models" / "resnet18-cifar10.pt"
CIFAR = SHARED / "datasets" / "cifar10" / "train"

needs_shared = pytest.mark.skipif(
    not (WEIGHTS.is_file() and CIFAR.is_dir()), reason="needs ../shared CIFAR-10 and weights"
)
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason="needs ../shared/models/resnet18-cifar10.pt")
needs_cifar = pytest.mark.skipif(not CIFAR.is_dir(), reason="needs ../shared/datasets/cifar10/train")
