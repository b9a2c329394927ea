"""Fixtures of the tests of :mod:`lookalike.web`: the generated collection (built once a session) and,
per test module, the whole app over it with a test client (a module's requests start from a fresh app)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from web_support import make_collection


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index location of the generated collection (``site.parent`` is the indexed folder)."""
    return make_collection(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def web(site: Path) -> Iterator[Any]:
    """The whole app, as ``create_app`` makes it, without warming up."""
    from lookalike.web.app import create_app

    application = create_app(site, warm=False)
    yield application
    application.state.collection.close()


@pytest.fixture(scope="module")
def client(web: Any) -> Any:
    from web_support import TestClient

    return TestClient(web)
