"""Fixtures of the feature tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from feature_support import randomize_batchnorm
from lookalike.features import Embedder
from lookalike.models import create_model


@pytest.fixture(scope="module")
def cifar_embedder() -> Embedder:
    torch.manual_seed(0)
    return Embedder("none", model="resnet18", size=32, precision="float32", device="cpu", batch_size=4)


# ------------------------------------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def cifar_source() -> nn.Module:
    torch.manual_seed(1)
    return randomize_batchnorm(create_model("resnet18", num_classes=10, cifar_stem=True))
