"""``lookalike serve``: the JSON API through FastAPI's test client on a small real index, its safety
(traversal, symbolic links, upload limits, bombs, nothing on disk, headers), the command line, a
schema-driven fuzz run, and a bounded load test against the real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

with warnings.catch_warnings():  # Starlette 1.x asks for httpx2; the client works the same with httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from lookalike.cli import app as cli_app
from lookalike.web.app import LOCAL_HOSTS, create_app
from lookalike.web.collection import Collection
from lookalike.web.uploads import UploadError, read_uploads
from png_bomb import png_header
from web_support import make_collection as build_collection
from web_support import needs_shared, serve

pytestmark = needs_shared
runner = CliRunner()


# ----------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index location of the generated collection (``site.parent`` is the indexed folder)."""
    return build_collection(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def web(site: Path) -> Iterator[Any]:
    application = create_app(site, warm=False)
    yield application
    application.state.collection.close()


@pytest.fixture(scope="module")
def client(web: Any) -> TestClient:
    return TestClient(web)


def ids_by_path(client: TestClient) -> dict[str, int]:
    page = client.get("/api/images", params={"limit": 500}).json()
    return {image["path"]: image["id"] for image in page["images"]}


def image_bytes(site: Path, relpath: str) -> bytes:
    return (site.parent / relpath).read_bytes()


def png_bytes(size: tuple[int, int] = (40, 30), seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    return png_header(width, height)


def one_line(response: Any) -> str:
    body = response.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], str) and "\n" not in body["detail"] and body["detail"]
    assert "Traceback" not in response.text
    return str(body["detail"])


async def _raw(app: Any, raw_path: str, method: str = "GET") -> tuple[int, bytes]:
    """Call the ASGI app with a request line exactly as a client sent it (no URL normalisation on the way,
    unlike HTTP client libraries): what uvicorn hands over for ``GET raw_path HTTP/1.1``."""
    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


# ----------------------------------------------------------------------------------------------------------
# The page


def test_the_page_and_its_assets_are_local_and_served_with_strict_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assets = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert "/static/app.js" in assets and "/static/style.css" in assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset}: the page must not load anything from another host"
        assert client.get(asset).status_code == 200, asset
    for name in ("app.js", "style.css", "api.js", "api.html"):
        text = client.get(f"/static/{name}").text
        assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", text), (
            f"{name} loads from a CDN"
        )
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline scripts (the CSP forbids them)"
    assert "style=" not in html and "<style" not in html, "no inline styles (the CSP forbids them)"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_api_reference_is_local_and_the_schema_describes_every_route(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404  # FastAPI's Swagger UI would load from a CDN
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/static/api.js" in docs.text
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    for path, methods in {
        "/api/info": {"get"},
        "/api/images": {"get"},
        "/api/images/{image_id}": {"get"},
        "/api/images/{image_id}/thumb": {"get"},
        "/api/images/{image_id}/full": {"get"},
        "/api/search": {"get", "post"},
        "/api/compare": {"get", "post"},
        "/api/duplicates": {"get", "post"},
    }.items():
        assert set(paths[path]) == methods, path
    upload = paths["/api/search"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["file"]["format"] == "binary"
    ok = paths["/api/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/SearchOut")
    errors = paths["/api/search"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert errors["$ref"].endswith("/ErrorOut")  # the one-line errors, not FastAPI's list of dicts


# ----------------------------------------------------------------------------------------------------------
# The collection


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


def test_images_are_listed_by_path_in_pages_shuffled_by_seed_and_filtered(client: TestClient) -> None:
    everything = client.get("/api/images", params={"limit": 500}).json()
    paths = [i["path"] for i in everything["images"]]
    assert everything["total"] == len(paths) == 85 and paths == sorted(paths)
    first = everything["images"][0]
    assert first["thumb"].startswith(f"/api/images/{first['id']}/thumb?v=")
    assert first["full"] == f"/api/images/{first['id']}/full"
    assert (first["width"], first["height"]) == (32, 32) and first["bytes"] > 0
    page = client.get("/api/images", params={"offset": 10, "limit": 5}).json()
    assert [i["path"] for i in page["images"]] == paths[10:15]
    shuffled = client.get("/api/images", params={"order": "random", "seed": 7, "limit": 500}).json()
    again = client.get("/api/images", params={"order": "random", "seed": 7, "limit": 500}).json()
    other = client.get("/api/images", params={"order": "random", "seed": 8, "limit": 500}).json()
    order = [i["path"] for i in shuffled["images"]]
    assert order == [i["path"] for i in again["images"]] != [i["path"] for i in other["images"]]
    assert sorted(order) == paths and order != paths
    cats = client.get("/api/images", params={"q": "CAT/"}).json()
    assert cats["total"] == 8 and all(i["path"].startswith("cat/") for i in cats["images"])
    one = client.get(f"/api/images/{first['id']}").json()
    assert one == first


# ----------------------------------------------------------------------------------------------------------
# Search


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


# ----------------------------------------------------------------------------------------------------------
# Compare


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


# ----------------------------------------------------------------------------------------------------------
# Duplicates


def test_duplicates_are_computed_on_request_and_kept_per_index_version(client: TestClient, web: Any) -> None:
    collection: Collection = web.state.collection
    assert client.get("/api/duplicates").json()["state"] == "idle"
    started = client.post("/api/duplicates")
    assert started.status_code == 202 and started.json()["state"] in ("working", "done")
    collection.duplicates.wait(60)
    done = client.get("/api/duplicates").json()
    assert done["state"] == "done" and done["images"] == 84  # the link out of the folder is not read
    assert done["seconds"] > 0 and done["error"] is None
    groups = {frozenset(m["path"] for m in g["members"]): g for g in done["groups"]}
    planted = frozenset(
        {"cat/0000.jpg", "copies/cat-copy.jpg", "copies/cat-mirrored.png", "copies/cat-large.png", "cat.ppm"}
    )
    assert planted in groups, list(groups)
    group = groups[planted]
    keeper = group["members"][0]
    assert keeper["keeper"] and keeper["path"] == "copies/cat-large.png"  # the most pixels
    assert group["keeper"] == keeper["id"] and keeper["thumb"].startswith(f"/api/images/{keeper['id']}/")
    kinds = {m["path"]: m["kind"] for m in group["members"][1:]}
    assert "flipped" in kinds["copies/cat-mirrored.png"]
    assert all(not m["keeper"] for m in group["members"][1:])
    # both checks' scores: each member passed the fine check against the keeper itself
    assert all(m["ssim"] >= 0.8 and 0 <= m["colour"] <= 0.06 for m in group["members"][1:])
    # cached: asking again does not start another run
    again = client.post("/api/duplicates").json()
    assert again["state"] == "done" and again["started"] == done["started"]


def test_duplicates_result_is_dropped_when_the_index_changes(tmp_path: Path) -> None:
    from lookalike.features import Embedder
    from lookalike.index import index_folder
    from web_support import CIFAR, WEIGHTS

    folder = tmp_path / "few"
    folder.mkdir()
    for src in sorted((CIFAR / "frog").iterdir())[:3]:
        (folder / src.name).write_bytes(src.read_bytes())
    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    location = index_folder(folder, embedder).location
    application = create_app(location, warm=False)
    try:
        c = TestClient(application)
        c.post("/api/duplicates")
        application.state.collection.duplicates.wait(60)
        first = c.get("/api/duplicates").json()
        assert first["state"] == "done" and first["images"] == 3
        (folder / "copy.jpg").write_bytes(sorted(folder.glob("*.jpg"))[0].read_bytes())
        index_folder(folder, embedder)
        changed = c.get("/api/duplicates").json()
        assert changed["state"] == "idle" and changed["version"] != first["version"]
        assert c.get("/api/info").json()["images"] == 4
        c.post("/api/duplicates")
        application.state.collection.duplicates.wait(60)
        second = c.get("/api/duplicates").json()
        assert second["state"] == "done" and second["images"] == 4 and len(second["groups"]) == 1
    finally:
        application.state.collection.close()


# ----------------------------------------------------------------------------------------------------------
# Images: thumbnails (cached), originals, and refusals


def test_thumbnails_are_made_once_and_then_served_from_the_cache(
    client: TestClient, web: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = ids_by_path(client)
    collection: Collection = web.state.collection
    image_id = ids["copies/cat-large.png"]
    entry = collection.entry(image_id)
    cached = collection.thumb_path(entry)
    assert cached.parent.parent == collection.location / "thumbs"
    cached.unlink(missing_ok=True)
    first = client.get(f"/api/images/{image_id}/thumb")
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert 'desc="made"' in first.headers["server-timing"]
    assert cached.is_file() and cached.read_bytes() == first.content
    with Image.open(io.BytesIO(first.content)) as img:
        assert img.format == "JPEG" and img.size == (64, 64)  # never enlarged
    stamp = cached.stat().st_mtime_ns

    def no_second_time(*_: Any) -> bytes:
        raise AssertionError("the thumbnail was made again")

    monkeypatch.setattr(Collection, "_make_thumbnail", no_second_time)
    versioned = first.headers["etag"].strip('"').rsplit("-", 1)[0]
    second = client.get(f"/api/images/{image_id}/thumb", params={"v": versioned})
    assert second.status_code == 200 and second.content == first.content
    assert 'desc="cache"' in second.headers["server-timing"]
    assert "immutable" in second.headers["cache-control"]
    assert cached.stat().st_mtime_ns == stamp
    assert not [p for p in cached.parent.iterdir() if p.name.endswith(".tmp")]


def test_thumbnails_live_in_memory_when_the_index_folder_cannot_be_written(
    site: Path, tmp_path: Path
) -> None:
    application = create_app(site, warm=False)
    try:
        collection: Collection = application.state.collection
        blocker = tmp_path / "a-file"
        blocker.write_bytes(b"")
        collection._thumb_dir = blocker / "thumbs"  # mkdir fails below a file, as on a read-only disk
        c = TestClient(application)
        first = c.get("/api/images/2/thumb")
        second = c.get("/api/images/2/thumb")
        assert first.status_code == second.status_code == 200 and first.content == second.content
        assert 'desc="made"' in first.headers["server-timing"]
        assert 'desc="cache"' in second.headers["server-timing"]
    finally:
        application.state.collection.close()


def test_thumbnails_are_hidden_from_lookalike_index_when_the_index_lies_in_the_folder(tmp_path: Path) -> None:
    from lookalike.web.collection import _thumb_folder

    photos = tmp_path / "photos"
    (photos / "idx").mkdir(parents=True)
    assert _thumb_folder(photos / ".lookalike", photos) == "thumbs"  # hidden already
    assert _thumb_folder(tmp_path / "elsewhere", photos) == "thumbs"
    assert _thumb_folder(photos / "idx", photos) == ".thumbs"  # list_images skips hidden folders


def test_full_images_are_the_files_or_png_for_formats_browsers_cannot_show(
    client: TestClient, site: Path
) -> None:
    ids = ids_by_path(client)
    jpeg = client.get(f"/api/images/{ids['cat/0001.jpg']}/full")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content == image_bytes(site, "cat/0001.jpg")
    ppm = client.get(f"/api/images/{ids['cat.ppm']}/full")
    assert ppm.status_code == 200 and ppm.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(ppm.content)) as img, Image.open(site.parent / "cat.ppm") as original:
        assert np.array_equal(np.asarray(img.convert("RGB")), np.asarray(original.convert("RGB")))


def test_a_symbolic_link_out_of_the_indexed_folder_is_never_served(client: TestClient, site: Path) -> None:
    link = ids_by_path(client)["link-out.jpg"]
    secret = (site.parent.parent / "outside" / "secret.jpg").read_bytes()
    for url in (f"/api/images/{link}/thumb", f"/api/images/{link}/full", f"/api/search?id={link}",
                f"/api/compare?a={link}&b=1", f"/api/compare?a=1&b={link}"):  # fmt: skip
        r = client.get(url)
        assert r.status_code == 403, (url, r.status_code)
        assert "outside the indexed folder" in one_line(r)
        assert secret not in r.content


TRAVERSALS = [
    "/api/images/../../../../etc/passwd/full",
    "/api/images/..%2f..%2f..%2fetc%2fpasswd/full",
    "/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/thumb",
    "/api/images/%252e%252e%252fetc%252fpasswd/full",
    "/api/images/..%5c..%5cetc%5cpasswd/full",
    "/api/images/..\\..\\etc\\passwd/full",
    "/api/images/%2fetc%2fpasswd/full",
    "/api/images//etc/passwd/full",
    "/api/images/1/../../../../etc/passwd",
    "/api/images/1%2f..%2f..%2fsecret.jpg/full",
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/app.py",
    "/static/%252e%252e%252fapp.py",
    "/static/..\\app.py",
    "/static//etc/passwd",
    "/static/../app.py",
    "/api/search?id=../../../../etc/passwd",
    "/api/search?id=%2Fetc%2Fpasswd",
    "/api/search?id=..%2F..%2Foutside%2Fsecret.jpg",
    "/api/compare?a=../outside/secret.jpg&b=1",
    "/api/images/..%2f..%2foutside%2fsecret.jpg/full",
]


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_path_traversal_in_any_form_gets_4xx(web: Any, site: Path, raw: str) -> None:
    status, body = asyncio.run(_raw(web, raw))
    assert 400 <= status < 500, (raw, status)
    assert b"root:" not in body
    assert (site.parent.parent / "outside" / "secret.jpg").read_bytes() not in body
    assert (
        Path(__file__).resolve().parents[1] / "src" / "lookalike" / "web" / "app.py"
    ).read_bytes() not in body


# ----------------------------------------------------------------------------------------------------------
# Uploads: limits, bad files, bombs, nothing kept on disk


def test_an_upload_over_the_limit_gets_413(site: Path) -> None:
    application = create_app(site, upload_limit=4000, warm=False)
    try:
        c = TestClient(application)
        big = png_bytes((64, 64))
        assert len(big) > 4000
        for r in (
            c.post("/api/search", files={"file": ("big.png", big, "image/png")}),
            c.post("/api/search", content=big, headers={"Content-Type": "image/png"}),
            c.post("/api/compare", params={"b": 1}, files={"a": ("big.png", big, "image/png")}),
        ):
            assert r.status_code == 413, r.text
            detail = one_line(r)
            assert "upload limit of 3.91 KB" in detail
            assert "start the server with a larger upload limit" in detail
            assert "--" not in detail  # a visitor of the page reads it: no command-line flags
        small = image_bytes(site, "cat/0000.jpg")
        assert c.post("/api/search", files={"file": ("ok.jpg", small, "image/jpeg")}).status_code == 200
    finally:
        application.state.collection.close()


class _Body:
    """A request body arriving in ``chunks`` pieces of ``size`` bytes; counts how many were read."""

    def __init__(self, first: bytes, size: int, chunks: int) -> None:
        self.first, self.size, self.chunks, self.read = first, size, chunks, 0

    async def stream(self) -> AsyncIterator[bytes]:
        for i in range(self.chunks):
            self.read += 1
            yield self.first if i == 0 else b"\xab" * self.size


@pytest.mark.parametrize("form", [True, False])
def test_the_upload_limit_is_enforced_while_the_body_streams(form: bool) -> None:
    limit, size, chunks = 50_000, 8192, 1000  # an 8 MB body, no Content-Length
    if form:
        headers = {"content-type": "multipart/form-data; boundary=XyZ"}
        first = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    else:
        headers, first = {"content-type": "image/png"}, b"\x89PNG\r\n\x1a\n"
    body = _Body(first, size, chunks)
    with pytest.raises(UploadError) as caught:
        asyncio.run(read_uploads(headers, body.stream(), files=["file"], limit=limit))
    assert caught.value.status == 413
    assert body.read <= limit // size + 2, f"read {body.read} chunks of {chunks} before refusing"
    announced = _Body(first, size, chunks)
    with pytest.raises(UploadError) as caught:
        asyncio.run(
            read_uploads(
                {**headers, "content-length": str(size * chunks)},
                announced.stream(),
                files=["file"],
                limit=limit,
            )
        )
    assert caught.value.status == 413 and announced.read == 0  # refused before reading anything


def test_uploads_that_are_not_images_get_a_clear_4xx(client: TestClient, site: Path) -> None:
    jpeg = image_bytes(site, "cat/0000.jpg")
    for name, data, kind, status, words in [
        ("notes.txt", b"hello, this is text\n" * 20, "text/plain", 422, "not an image lookalike can read"),
        ("empty.jpg", b"", "image/jpeg", 422, "empty"),
        ("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg", 422, "truncated"),
        ("noise.jpg", b"\xff\xd8\xff" + os.urandom(3000), "image/jpeg", 422, "upload 'noise.jpg'"),
    ]:
        r = client.post("/api/search", files={"file": (name, data, kind)})
        assert r.status_code == status, (name, r.text)
        assert words in one_line(r), (name, r.json())
    wrong_field = client.post("/api/search", files={"image": ("a.jpg", jpeg, "image/jpeg")})
    assert wrong_field.status_code == 422 and "field 'file'" in one_line(wrong_field)
    as_text = client.post("/api/search", content=b"x=1", headers={"Content-Type": "application/json"})
    assert as_text.status_code == 415 and "multipart/form-data" in one_line(as_text)
    broken = client.post(
        "/api/search", content=b"--nope\r\n", headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    assert broken.status_code == 422, broken.text


def test_decompression_bombs_are_refused_from_their_header(client: TestClient, site: Path) -> None:
    r = client.post("/api/search", files={"file": ("bomb.png", bomb_png(), "image/png")})
    assert r.status_code == 422
    detail = one_line(r)
    assert "60000×60000" in detail and "decompression bomb" in detail and "bomb.png" in detail
    compare = client.post("/api/compare", params={"b": 1}, files={"a": ("bomb.png", bomb_png(), "image/png")})
    assert compare.status_code == 422 and "decompression bomb" in one_line(compare)
    strict = create_app(site, max_pixels=32 * 32 - 1, warm=False)
    try:
        c = TestClient(strict)
        small = c.post(
            "/api/search", files={"file": ("cat.jpg", image_bytes(site, "cat/0000.jpg"), "image/jpeg")}
        )
        assert small.status_code == 422 and "over the limit of 1,023" in one_line(small)
        thumb = c.get("/api/images/1/thumb")
        assert thumb.status_code == 409 and "decompression bomb" in one_line(thumb)
    finally:
        strict.state.collection.close()


def test_uploaded_files_are_never_written_to_disk(
    client: TestClient, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("an upload was about to be written to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    before = {p for p in site.parent.parent.rglob("*") if "thumbs" not in p.parts}
    big = png_bytes((900, 900), seed=3)  # 2.4 MB: past the 1 MB where form parsers usually spill to disk
    assert len(big) > 2_000_000
    r = client.post("/api/search", files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 200, r.text
    r = client.post("/api/compare", params={"b": 1}, files={"a": ("big.png", big, "image/png")})
    assert r.status_code == 200, r.text
    after = {p for p in site.parent.parent.rglob("*") if "thumbs" not in p.parts}
    assert after == before and not list(spool.iterdir())


# ----------------------------------------------------------------------------------------------------------
# Host and origin checks, index without real weights, errors


def test_host_header_and_cross_origin_posts_are_checked(site: Path) -> None:
    application = create_app(site, allowed_hosts=list(LOCAL_HOSTS), warm=False)
    try:
        c = TestClient(application, base_url="http://127.0.0.1:8000")
        assert c.get("/api/info").status_code == 200
        assert c.get("/api/info", headers={"Host": "localhost:8000"}).status_code == 200
        rebinding = c.get("/api/info", headers={"Host": "evil.example:8000"})
        assert rebinding.status_code == 400 and "evil.example" in one_line(rebinding)
        assert rebinding.headers["x-content-type-options"] == "nosniff"
        cross = c.post("/api/duplicates", headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and "cross-origin" in one_line(cross)
        same = c.post("/api/compare?a=1&b=2", headers={"Origin": "http://127.0.0.1:8000"})
        assert same.status_code == 200
    finally:
        application.state.collection.close()


def test_an_index_with_random_weights_takes_uploads_only_with_its_exported_model(tmp_path: Path) -> None:
    from lookalike.features import Embedder
    from lookalike.index import index_folder
    from web_support import CIFAR

    folder = tmp_path / "random"
    folder.mkdir()
    for src in sorted((CIFAR / "deer").iterdir())[:4]:
        (folder / src.name).write_bytes(src.read_bytes())
    location = index_folder(folder, Embedder("none", model="resnet18", size=32, num_workers=0)).location
    data = sorted(folder.glob("*.jpg"))[0].read_bytes()
    with_model = create_app(location, warm=False)  # the index keeps its exported model: uploads work
    try:
        r = TestClient(with_model).post("/api/search", files={"file": ("deer.jpg", data, "image/jpeg")})
        assert r.status_code == 200 and r.json()["hits"][0]["score"] > 0.999
    finally:
        with_model.state.collection.close()
    (location / "model.onnx").unlink()  # without it, random weights cannot be made again
    application = create_app(location, warm=False)
    try:
        c = TestClient(application)
        assert c.get("/api/search", params={"id": 1, "k": 2}).status_code == 200
        r = c.post("/api/search", files={"file": ("deer.jpg", data, "image/jpeg")})
        assert r.status_code == 409 and "random weights" in one_line(r)
        uploads = c.get("/api/info").json()["uploads"]
        assert uploads["enabled"] is False and "random weights" in uploads["reason"]
    finally:
        application.state.collection.close()


def test_a_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    from lookalike.errors import StoreError

    with pytest.raises(StoreError, match="lookalike index FOLDER"):
        create_app(tmp_path / "nothing-here")


# ----------------------------------------------------------------------------------------------------------
# The command line


def test_serve_help_has_an_example_and_the_cli_does_not_import_the_web_stack() -> None:
    result = runner.invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for words in ("--host", "--port", "--max-upload", "--open", "--index", "Example", "lookalike serve"):
        assert words in result.output
    code = (
        "import sys, lookalike.cli; print([m for m in ('fastapi', 'uvicorn', 'torch') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_serve_errors_are_one_actionable_line(
    tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = runner.invoke(cli_app, ["serve", str(tmp_path)])
    assert missing.exit_code == 1 and "lookalike index FOLDER" in missing.output
    wrong = runner.invoke(cli_app, ["serve", "--index", str(tmp_path)])
    assert wrong.exit_code == 1 and "not a lookalike index" in wrong.output
    limit = runner.invoke(cli_app, ["serve", "--index", str(site), "--max-upload", "lots"])
    assert limit.exit_code == 1 and "--max-upload" in limit.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(cli_app, ["serve", "--index", str(site), "--port", str(port)])
    assert busy.exit_code == 1 and f"port {port} on 127.0.0.1 is already in use" in busy.output
    assert "pass another --port, or --port 0 for a free one" in busy.output  # the hint, as the flags
    import lookalike.web.server

    monkeypatch.setattr(lookalike.web.server, "missing_extra", lambda: "fastapi")
    no_extra = runner.invoke(cli_app, ["serve", "--index", str(site)])
    assert no_extra.exit_code == 1 and "pip install 'lookalike[web]'" in no_extra.output
    assert "Traceback" not in no_extra.output


# ----------------------------------------------------------------------------------------------------------
# Schema-driven fuzzing: every operation, generated from /api/openapi.json, never a 5xx


FUZZ_EXAMPLES = 15  # per operation and mode (valid and invalid input): a few hundred requests in all


@pytest.mark.slow
def test_fuzz_every_operation_from_the_schema_without_a_server_error(web: Any) -> None:
    """schemathesis generates valid and invalid requests for every operation of /api/openapi.json and
    sends them to the app in process; no answer may be a 5xx, every error is one line of JSON, and every
    answer matches the schema (status codes, content types, bodies)."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode, checks

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", web)
    validations = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    sent: dict[str, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11

    def fuzz(operation: Any, mode: Any) -> None:
        label = f"{operation.method.upper()} {operation.path}"

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call()
            sent[label] = sent.get(label, 0) + 1
            assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                detail = response.json().get("detail")
                assert isinstance(detail, str) and "\n" not in detail, response.text[:300]
            case.validate_response(response, checks=validations)

        run()

    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE)
        try:
            fuzz(operation, GenerationMode.NEGATIVE)
        except Unsatisfiable:  # no parameters and no body: nothing invalid to send
            assert not operation.query and not operation.path_parameters and not operation.body, operation
    print(f"\nfuzz: {sum(sent.values())} requests: " + ", ".join(f"{k} {v}" for k, v in sent.items()))
    for op in operations:  # every operation was exercised, those with inputs many times
        n = sent.get(f"{op.method.upper()} {op.path}", 0)
        assert n >= (5 if op.query or op.path_parameters or op.body else 1), sent


# ----------------------------------------------------------------------------------------------------------
# A bounded load test: 20 concurrent clients for 30 s against `lookalike serve` on 127.0.0.1


LOAD_CLIENTS = 20
LOAD_SECONDS = 30.0


@pytest.mark.slow
def test_load_20_clients_30_seconds_without_errors(site: Path) -> None:
    import httpx

    with serve(site) as url:
        assert url.startswith("http://127.0.0.1:")
        images = httpx.get(url + "api/images", params={"limit": 500}).json()["images"]
        ids = [i["id"] for i in images if i["path"] != "link-out.jpg"]
        upload = sorted((site.parent / "dog").iterdir())[0].read_bytes()
        latencies: dict[str, list[float]] = {"search": [], "thumb": [], "images": [], "upload": []}
        errors: list[str] = []

        async def worker(n: int) -> None:
            rng = np.random.default_rng(n)
            async with httpx.AsyncClient(base_url=url, timeout=20) as c:
                deadline = time.monotonic() + LOAD_SECONDS
                while time.monotonic() < deadline:
                    roll = rng.random()
                    image_id = int(rng.choice(ids))
                    started = time.perf_counter()
                    try:
                        if roll < 0.55:
                            kind = "search"
                            r = await c.get("/api/search", params={"id": image_id, "k": 12})
                        elif roll < 0.85:
                            kind = "thumb"
                            r = await c.get(f"/api/images/{image_id}/thumb")
                        elif roll < 0.95:
                            kind = "images"
                            r = await c.get("/api/images", params={"order": "random", "seed": n, "limit": 24})
                        else:
                            kind = "upload"
                            r = await c.post("/api/search", files={"file": ("q.jpg", upload, "image/jpeg")})
                    except httpx.HTTPError as exc:
                        errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    latencies[kind].append(time.perf_counter() - started)
                    if r.status_code != 200:
                        errors.append(f"{kind} {r.status_code} {r.text[:200]}")

        async def main() -> None:
            await asyncio.gather(*(worker(n) for n in range(LOAD_CLIENTS)))

        started = time.monotonic()
        asyncio.run(main())
        wall = time.monotonic() - started
    total = sum(len(v) for v in latencies.values())
    rate = total / wall
    print(
        f"\nload: {LOAD_CLIENTS} clients, {wall:.1f} s, {total} requests ({rate:.0f}/s), {len(errors)} errors"
    )
    for kind, values in latencies.items():
        if values:
            ms = np.array(values) * 1000
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            print(f"  {kind:7s} n={len(ms):5d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms")
    assert not errors, errors[:5]
    assert total >= LOAD_CLIENTS * 5 and all(latencies.values()), {k: len(v) for k, v in latencies.items()}


@pytest.mark.slow
def test_the_live_server_refuses_raw_traversal_requests(site: Path) -> None:
    """The same refusals through uvicorn itself, request lines sent byte for byte."""
    with serve(site) as url:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        raws = ["/static/../../../../etc/passwd", "/api/images/../../etc/passwd/full",
                "/static/%2e%2e/%2e%2e/pyproject.toml", "/api/images/1/../../../../etc/passwd"]  # fmt: skip
        for raw in raws:
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(f"GET {raw} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            status = int(reply.split(b" ", 2)[1])
            assert 400 <= status < 500, (raw, reply[:200])
            assert b"root:" not in reply
        evil = httpx_get(url + "api/info", headers={"Host": "evil.example"})
        assert evil == 400


def httpx_get(url: str, **kw: Any) -> int:
    import httpx

    return httpx.get(url, **kw).status_code
