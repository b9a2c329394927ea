"""The images router: the listing by path, shuffled or filtered, one image, thumbnails (made once, then
cached on disk or in memory), the files themselves, and the refusal of a link out of the indexed folder."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.collection import Entry
from lookalike.web.app import create_app
from lookalike.web.collection import Collection, ServeError, Snapshot
from lookalike.web.routes import images
from lookalike.web.state import AppState
from web_support import TestClient, bare_app, ids_by_path, image_bytes, needs_shared, one_line


@needs_shared
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


@needs_shared
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


@needs_shared
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


@needs_shared
def test_full_images_are_the_files_or_cached_jpeg_previews_for_formats_browsers_cannot_show(
    client: TestClient, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = ids_by_path(client)
    jpeg = client.get(f"/api/images/{ids['cat/0001.jpg']}/full")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content == image_bytes(site, "cat/0001.jpg")
    ppm = client.get(f"/api/images/{ids['cat.ppm']}/full")
    assert ppm.status_code == 200 and ppm.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(ppm.content)) as img, Image.open(site.parent / "cat.ppm") as original:
        assert img.format == "JPEG" and img.size == original.size  # full size, not a thumbnail
        shown = np.asarray(img.convert("RGB"), dtype=np.float64)
        assert np.abs(shown - np.asarray(original.convert("RGB"), dtype=np.float64)).mean() < 3.0

    def no_second_time(*_: Any) -> bytes:
        raise AssertionError("the preview was made again")

    monkeypatch.setattr(Collection, "_make_thumbnail", no_second_time)
    again = client.get(f"/api/images/{ids['cat.ppm']}/full")
    assert again.status_code == 200 and again.content == ppm.content


@needs_shared
def test_a_symbolic_link_out_of_the_indexed_folder_is_never_served(client: TestClient, site: Path) -> None:
    link = ids_by_path(client)["link-out.jpg"]
    secret = (site.parent.parent / "outside" / "secret.jpg").read_bytes()
    for url in (f"/api/images/{link}/thumb", f"/api/images/{link}/full", f"/api/search?id={link}",
                f"/api/compare?a={link}&b=1", f"/api/compare?a=1&b={link}"):  # fmt: skip
        r = client.get(url)
        assert r.status_code == 403, (url, r.status_code)
        assert "outside the indexed folder" in one_line(r)
        assert secret not in r.content


class _Rows:
    """A collection of rows only (no index, no files): what the listing routes read."""

    def __init__(self, paths: list[str]) -> None:
        entries = [Entry(p, size=100 + i, mtime_ns=i, sha256=str(i) * 64, width=8, height=6, id=10 + i)
                   for i, p in enumerate(paths)]  # fmt: skip
        self.snap = Snapshot("v1", entries, {e.id: e for e in entries}, {e.path: e.id for e in entries})

    def snapshot(self) -> Snapshot:
        return self.snap

    def entry(self, image_id: int) -> Entry:
        if image_id not in self.snap.by_id:
            raise ServeError(404, f"no image with id {image_id} in this index", "list the ids")
        return self.snap.by_id[image_id]


def test_the_images_router_alone_lists_the_rows_of_its_state() -> None:
    state = AppState(_Rows(["a/one.jpg", "a/two.png", "b/three.jpg"]), upload_limit=1000)
    c = TestClient(bare_app(images.router, state=state))
    listing = c.get("/api/images", params={"q": "A/"}).json()
    assert listing["total"] == 2 and [i["path"] for i in listing["images"]] == ["a/one.jpg", "a/two.png"]
    one = c.get("/api/images/11").json()
    assert one == {"id": 11, "path": "a/two.png", "width": 8, "height": 6, "bytes": 101,
                   "thumb": "/api/images/11/thumb?v=" + "1" * 16, "full": "/api/images/11/full"}  # fmt: skip
    missing = c.get("/api/images/7")
    assert (
        missing.status_code == 404 and one_line(missing) == "no image with id 7 in this index; list the ids"
    )
    assert c.get("/api/images/-1").status_code == 422
    assert c.get("/api/search", params={"id": 10}).status_code == 404  # only this router is mounted
