"""The info router: ``GET /api/info``, the index overview."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.collection import Collection
from lookalike.web.routes import info
from lookalike.web.state import AppState
from web_support import TestClient, bare_app, needs_shared

pytestmark = needs_shared


def test_info_describes_the_index(client: TestClient, site: Path) -> None:
    info = client.get("/api/info").json()
    assert info["images"] == 80 + 3 + 2  # CIFAR images, planted copies, the PPM and the link
    assert info["model"] == "resnet18" and info["cifar_stem"] is True and info["dim"] == 512
    assert "resnet18-cifar10.pt" in info["weights"]
    assert info["search"]["factory"] == "Flat" and info["search"]["ntotal"] == info["images"]
    assert info["preprocessing"]["crop_size"] == 32
    uploads = info["uploads"]
    assert uploads["enabled"] is True and uploads["reason"] is None and isinstance(uploads["ready"], bool)
    assert uploads["max_bytes"] == 20 * 1024 * 1024 and uploads["max_pixels"] == Image.MAX_IMAGE_PIXELS
    assert info["created"] <= info["updated"] <= time.time()
    assert Path(info["root"]) == site.parent.resolve() or Path(info["root"]) == site.parent
    assert re.fullmatch(r"[0-9a-f]{12}", info["version"])


def test_the_info_router_alone_reports_the_limits_of_its_state(site: Path) -> None:
    collection = Collection(site)
    try:
        state = AppState.of(collection, upload_limit=1234, max_pixels=5000, thumb_side=64)
        c = TestClient(bare_app(info.router, state=state))
        overview = c.get("/api/info").json()
        assert overview["images"] == 85 and overview["thumb_side"] == 64
        assert overview["uploads"]["max_bytes"] == 1234 and overview["uploads"]["max_pixels"] == 5000
        assert overview["metrics"] == ["cosine", "l2", "l1", "mse", "ncc"]
        assert c.get("/api/images").status_code == 404  # only this router is mounted
    finally:
        collection.close()
