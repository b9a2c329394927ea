"""What the command-line tests share: a way to run a command, two small images, a weights file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli import app

Invoke = Callable[..., tuple[int, str]]


@pytest.fixture
def invoke() -> Invoke:
    """Run ``lookalike ARGS…`` in-process; returns the exit code and stdout and stderr together."""
    runner = CliRunner()

    def run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = runner.invoke(app, [str(a) for a in args], env=env)
        return result.exit_code, result.output

    return run


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(a)
    Image.linear_gradient("L").resize((40, 30)).convert("RGB").save(b)
    return a, b


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random CIFAR-stem ResNet-18 weights saved to a file: the same vectors every time, no download."""
    import torch

    from lookalike.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-random.pt"
    torch.save(create_model("resnet18", num_classes=10, cifar_stem=True).state_dict(), path)
    return path
