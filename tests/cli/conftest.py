"""What the command-line tests share: a way to run a command and two small images (the weights file is
tests/conftest.py's ``weights``)."""

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
