"""Fixtures of the training tests: a small real CIFAR-10 tree, a private decoded-image cache, and the
CLI's one-line error."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared_data import CIFAR as SHARED_TRAIN


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 real images of each CIFAR-10 class, as an ImageFolder tree."""
    root = tmp_path_factory.mktemp("cifar") / "train"
    for folder in sorted(SHARED_TRAIN.iterdir()):
        (root / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:8]:
            shutil.copy2(image, root / folder.name / image.name)
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKALIKE_CACHE", str(cache_dir))


def _one_line_error(result: Any) -> str:
    """The CLI's message for a known error: exit code 1, one line, no traceback."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert lines[0].startswith("error:")
    return lines[0]


@pytest.fixture(name="one_line_error")
def _one_line_error_fixture() -> Callable[[Any], str]:
    """:func:`_one_line_error`, for tests that run the CLI."""
    return _one_line_error
