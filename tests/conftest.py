"""Settings for the whole test session, and the fixtures that more than one test folder uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Exported ONNX models go to a folder of this session, not the user's cache (subprocesses inherit it)."""
    old = os.environ.get("LOOKALIKE_CACHE")
    os.environ["LOOKALIKE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("LOOKALIKE_CACHE", None)
    else:
        os.environ["LOOKALIKE_CACHE"] = old


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random CIFAR-stem ResNet-18 weights saved to a file: the same vectors in every process, no download."""
    import torch

    from lookalike.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-random.pt"
    torch.save(create_model("resnet18", num_classes=10, cifar_stem=True).state_dict(), path)
    return path
