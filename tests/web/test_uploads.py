"""Uploads (:mod:`lookalike.web.uploads`): the size limit, enforced while the body streams, files that are
not images, decompression bombs refused from their header, and nothing written to disk."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.app import create_app
from lookalike.web.uploads import UploadError, read_uploads
from web_support import TestClient, bomb_png, image_bytes, needs_shared, one_line, png_bytes


@needs_shared
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
            assert (
                "upload limit of 3.91 KB" in detail
                and "start the server with a larger upload limit" in detail
            )
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


@needs_shared
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


@needs_shared
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


@needs_shared
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
        collection = strict.state.collection
        # the collection is shared by the session: a cached thumbnail would be served without decoding
        collection.thumb_path(collection.entry(1)).unlink(missing_ok=True)
        thumb = c.get("/api/images/1/thumb")
        assert thumb.status_code == 409 and "decompression bomb" in one_line(thumb)
    finally:
        strict.state.collection.close()


@needs_shared
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


@needs_shared
def test_phone_and_camera_uploads_are_read_as_their_files_are(
    client: TestClient, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pillow_heif", reason="needs the heif extra")
    pytest.importorskip("rawpy", reason="needs the raw extra")
    import io

    from PIL import Image

    from format_files import dng, save

    with Image.open(io.BytesIO(image_bytes(site, "cat/0000.jpg"))) as img:
        cat = img.convert("RGB").resize((96, 96), Image.Resampling.BICUBIC)
    heic = save(cat, tmp_path / "upload.heic", quality=90).read_bytes()
    raw = dng(cat, tmp_path / "upload.dng").read_bytes()

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("an upload was about to be written to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, refuse)  # LibRaw reads the RAW upload from memory too
    for name, data, kind in (("IMG_0001.HEIC", heic, "image/heic"), ("shot.dng", raw, "")):
        r = client.post("/api/search", files={"file": (name, data, kind or "application/octet-stream")})
        assert r.status_code == 200, (name, r.text)
        found = r.json()
        assert found["query"]["width"] == 96 and found["query"]["height"] == 96, name
        assert found["hits"][0]["path"] in ("cat/0000.jpg", "copies/cat-copy.jpg", "copies/cat-large.png"), (
            name
        )
    cut = client.post("/api/search", files={"file": ("cut.heic", heic[: len(heic) // 2], "image/heic")})
    assert cut.status_code == 422 and "upload 'cut.heic'" in one_line(cut)
    assert Image.open(io.BytesIO(heic)).format == "HEIF"
