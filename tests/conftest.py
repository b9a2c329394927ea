"""Settings for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
