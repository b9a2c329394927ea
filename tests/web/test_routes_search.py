"""The search router: look-alikes of an indexed image and of an upload, ranked by each metric, the hits that
are copies of the query marked, with the timing of each step, and one-line 4xx errors."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

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
    assert re.fullmatch(r"search;dur=[\d.]+, copies;dur=[\d.]+, total;dur=[\d.]+", r.headers["server-timing"])

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
    assert set(timing) == {"decode", "embed", "search", "copies", "total"}
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


def test_search_marks_the_hits_that_are_copies_of_the_query(client: TestClient) -> None:
    ids = ids_by_path(client)
    result = client.get("/api/search", params={"id": ids["cat/0000.jpg"], "k": 10}).json()
    marks = {h["path"]: (h["copy"], h["relation"]) for h in result["hits"]}
    assert marks["copies/cat-copy.jpg"] == (True, "exact")
    assert marks["cat.ppm"] == (True, "near-identical")  # the same pixels, another format
    assert marks["copies/cat-mirrored.png"] == (True, "mirrored")
    assert marks["copies/cat-large.png"] == (True, "resized")
    cats = [mark for path, mark in marks.items() if path.startswith("cat/")]
    assert len(cats) >= 3 and set(cats) == {(False, None)}  # other cats: alike, not the same picture
    assert result["timing"]["copies_ms"] > 0
    skipped = client.get("/api/search", params={"id": ids["cat/0000.jpg"], "k": 10, "copies": "false"})
    assert {(h["copy"], h["relation"]) for h in skipped.json()["hits"]} == {(None, None)}
    assert skipped.json()["timing"]["copies_ms"] is None
    assert "copies" not in skipped.headers["server-timing"]


def test_an_uploaded_turned_copy_marks_the_original_and_its_copies(client: TestClient, site: Path) -> None:
    buf = io.BytesIO()
    with Image.open(site.parent / "cat" / "0000.jpg") as img:
        img.transpose(Image.Transpose.ROTATE_270).save(buf, "JPEG", quality=30)  # 90° clockwise, re-encoded
    upload = {"file": ("turned.jpg", buf.getvalue(), "image/jpeg")}
    r = client.post("/api/search", params={"k": 12}, files=upload)
    assert r.status_code == 200, r.text
    marks = {h["path"]: (h["copy"], h["relation"]) for h in r.json()["hits"]}
    turned_back = (True, "rotated 90° counter-clockwise")  # how the upload turns into the indexed file
    assert marks["cat/0000.jpg"] == turned_back and marks["copies/cat-copy.jpg"] == turned_back
    assert marks["copies/cat-mirrored.png"] == (True, "mirrored and rotated 90° clockwise")
    cats = [mark for path, mark in marks.items() if path.startswith("cat/") and path != "cat/0000.jpg"]
    assert len(cats) >= 3 and set(cats) == {(False, None)}
    timing = dict(re.findall(r"(\w+);dur=([\d.]+)", r.headers["server-timing"]))
    assert float(timing["copies"]) == pytest.approx(r.json()["timing"]["copies_ms"], abs=0.01)


def test_a_hit_outside_the_indexed_folder_is_never_read_for_the_copy_check(
    client: TestClient, site: Path
) -> None:
    secret = (site.parent.parent / "outside" / "secret.jpg").read_bytes()
    r = client.post("/api/search", params={"k": 3}, files={"file": ("s.jpg", secret, "image/jpeg")})
    top = r.json()["hits"][0]
    assert top["path"] == "link-out.jpg" and top["score"] == pytest.approx(1.0, abs=1e-4)
    assert (top["copy"], top["relation"]) == (None, None)  # a link out of the folder: not opened
