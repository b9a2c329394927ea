"""The compare router: two indexed images, or an upload and an indexed image, on pixels and features."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.collection import Collection
from lookalike.web.routes import compare
from lookalike.web.state import AppState
from web_support import TestClient, bare_app, ids_by_path, image_bytes, needs_shared, one_line

pytestmark = needs_shared


def test_compare_two_indexed_images_gives_the_lectures_table(client: TestClient) -> None:
    ids = ids_by_path(client)
    cat, copy, truck = ids["cat/0000.jpg"], ids["copies/cat-copy.jpg"], ids["truck/0000.jpg"]
    same = client.get("/api/compare", params={"a": cat, "b": copy}).json()
    assert same["pixels"]["l1"] == 0 and same["pixels"]["mse"] == 0
    assert same["pixels"]["cosine"] == pytest.approx(1) and same["features"]["ncc"] == pytest.approx(1)
    r = client.get("/api/compare", params={"a": cat, "b": truck})
    assert r.status_code == 200
    diff = r.json()
    assert set(diff["pixels"]) == set(diff["features"]) == {"l1", "mse", "cosine", "ncc"}
    assert diff["pixels"]["l1"] > 0 and diff["features"]["cosine"] < same["features"]["cosine"]
    assert diff["a"]["path"] == "cat/0000.jpg" and diff["b"]["path"] == "truck/0000.jpg"
    assert diff["model"] == "resnet18" and diff["input_size"] == 32
    assert diff["timing"]["compare_ms"] > 0 and "compare;dur=" in r.headers["server-timing"]


def test_compare_an_upload_with_an_indexed_image(client: TestClient, site: Path) -> None:
    ids = ids_by_path(client)
    by_ids = client.get("/api/compare", params={"a": ids["dog/0000.jpg"], "b": ids["cat/0000.jpg"]}).json()
    files = {"a": ("dog.jpg", image_bytes(site, "dog/0000.jpg"), "image/jpeg")}
    r = client.post("/api/compare", params={"b": ids["cat/0000.jpg"]}, files=files)
    assert r.status_code == 200, r.text
    mixed = r.json()
    assert mixed["a"]["kind"] == "upload" and mixed["a"]["name"] == "dog.jpg"
    assert mixed["b"]["kind"] == "indexed"
    for space in ("pixels", "features"):
        for name, value in by_ids[space].items():
            assert mixed[space][name] == pytest.approx(value, rel=1e-5, abs=1e-6), (space, name)
    both = {"a": files["a"], "b": ("cat.jpg", image_bytes(site, "cat/0000.jpg"), "image/jpeg")}
    assert client.post("/api/compare", files=both).json()["features"] == pytest.approx(mixed["features"])
    assert client.post("/api/compare", params={"a": 1, "b": 2}).status_code == 200  # ids only, no body
    twice = client.post("/api/compare", params={"a": 1, "b": 2}, files=files)
    assert twice.status_code == 422 and "given twice" in one_line(twice)
    missing = client.post("/api/compare", params={"a": 1})
    assert missing.status_code == 422 and "give image b" in one_line(missing)


def test_the_compare_router_alone_compares_images_of_its_state(site: Path) -> None:
    collection = Collection(site)
    try:
        state = AppState.of(collection, upload_limit=1 << 20, max_pixels=None, thumb_side=256)
        c = TestClient(bare_app(compare.router, state=state))
        ids = collection.snapshot().id_of
        same = c.get("/api/compare", params={"a": ids["cat/0000.jpg"], "b": ids["copies/cat-copy.jpg"]})
        assert same.status_code == 200 and same.json()["pixels"]["l1"] == 0
        neither = c.post("/api/compare")
        assert neither.status_code == 422 and "give image a" in one_line(neither)
        assert c.get("/api/info").status_code == 404  # only this router is mounted
    finally:
        collection.close()
