"""The search router: look-alikes of an indexed image and of an upload, ranked by each metric, with the
timing of each step, and one-line 4xx errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.collection import Collection
from lookalike.web.routes import search
from lookalike.web.state import AppState
from web_support import TestClient, bare_app, ids_by_path, needs_shared, one_line

pytestmark = needs_shared


def test_search_by_id_leaves_the_query_out_and_ranks_by_the_metric(client: TestClient) -> None:
    ids = ids_by_path(client)
    query = ids["cat/0000.jpg"]
    r = client.get("/api/search", params={"id": query, "k": 5})
    assert r.status_code == 200
    result = r.json()
    assert result["query"]["kind"] == "indexed" and result["query"]["id"] == query
    assert result["query"]["path"] == "cat/0000.jpg" and result["k"] == 5
    hits = result["hits"]
    assert len(hits) == 5 and query not in [h["id"] for h in hits]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and result["higher_is_better"]
    # its exact copy has the same vector; the mirror and the enlargement follow close behind
    assert hits[0]["path"] == "copies/cat-copy.jpg" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert {h["path"] for h in hits[:4]} >= {"copies/cat-mirrored.png", "copies/cat-large.png"}
    for hit in hits:
        assert hit["thumb"].startswith(f"/api/images/{hit['id']}/thumb")
    assert result["timing"]["embed_ms"] is None and result["timing"]["search_ms"] > 0
    assert re.fullmatch(r"search;dur=[\d.]+", r.headers["server-timing"])

    by_l1 = client.get("/api/search", params={"id": query, "k": 5, "metric": "l1"}).json()
    assert by_l1["metric"] == "l1" and not by_l1["higher_is_better"]
    distances = [h["score"] for h in by_l1["hits"]]
    assert distances == sorted(distances) and distances[0] == pytest.approx(0.0, abs=1e-4)
    assert by_l1["candidates"] == 100


def test_search_by_upload_finds_the_same_image_and_reports_embedding_time_apart(
    client: TestClient, site: Path
) -> None:
    data = sorted((site.parent / "horse").iterdir())[3].read_bytes()
    r = client.post("/api/search", params={"k": 3}, files={"file": ("my horse.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["query"] == {"kind": "upload", "id": None, "path": None, "name": "my horse.jpg",
                               "width": 32, "height": 32, "bytes": len(data), "thumb": None}  # fmt: skip
    top = result["hits"][0]
    assert top["path"].startswith("horse/") and top["score"] == pytest.approx(1.0, abs=1e-4)
    t = result["timing"]
    assert t["embed_ms"] > 0 and t["decode_ms"] > 0 and t["search_ms"] > 0
    assert t["total_ms"] >= t["embed_ms"] + t["search_ms"]
    timing = dict(re.findall(r"(\w+);dur=([\d.]+)", r.headers["server-timing"]))
    assert set(timing) == {"decode", "embed", "search", "total"}
    # the same image as a raw body (curl --data-binary)
    raw = client.post("/api/search?k=3", content=data, headers={"Content-Type": "image/jpeg"}).json()
    assert [h["id"] for h in raw["hits"]] == [h["id"] for h in result["hits"]]


def test_search_errors_are_one_line_4xx(client: TestClient) -> None:
    for params, status, words in [
        ({"id": 999_999}, 404, "no image with id 999999"),
        ({"id": 1, "k": 0}, 422, "k:"),
        ({"id": 1, "k": 101}, 422, "k:"),
        ({"id": 1, "metric": "euclid"}, 422, "metric:"),
        ({}, 422, "id:"),
        ({"id": "cat"}, 422, "id:"),
    ]:
        r = client.get("/api/search", params=params)
        assert r.status_code == status, (params, r.text)
        assert words in one_line(r)
    assert client.post("/api/info").status_code == 405


def test_the_search_router_alone_searches_the_collection_of_its_state(site: Path) -> None:
    collection = Collection(site)
    try:
        c = TestClient(bare_app(search.router, state=AppState.of(collection, upload_limit=10, max_pixels=None,
                                                                 thumb_side=256)))  # fmt: skip
        query = collection.snapshot().id_of["cat/0000.jpg"]
        found = c.get("/api/search", params={"id": query, "k": 2})
        assert found.status_code == 200 and found.json()["hits"][0]["path"] == "copies/cat-copy.jpg"
        big = c.post("/api/search", content=b"x" * 11, headers={"Content-Type": "image/png"})
        assert big.status_code == 413 and "upload limit of 10 B" in one_line(big)  # the state's limit
        assert c.get("/api/images").status_code == 404  # only this router is mounted
    finally:
        collection.close()
