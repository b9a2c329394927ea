"""The served index (:mod:`lookalike.web.collection`): where thumbnails live, and uploads with an index
of random weights (only through its exported model)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.app import create_app
from web_support import TestClient, needs_shared, one_line

pytestmark = needs_shared


def test_thumbnails_are_hidden_from_lookalike_index_when_the_index_lies_in_the_folder(tmp_path: Path) -> None:
    from lookalike.web.collection import _thumb_folder

    photos = tmp_path / "photos"
    (photos / "idx").mkdir(parents=True)
    assert _thumb_folder(photos / ".lookalike", photos) == "thumbs"  # hidden already
    assert _thumb_folder(tmp_path / "elsewhere", photos) == "thumbs"
    assert _thumb_folder(photos / "idx", photos) == ".thumbs"  # list_images skips hidden folders


def test_an_index_with_random_weights_takes_uploads_only_with_its_exported_model(tmp_path: Path) -> None:
    from lookalike.collection import index_folder
    from lookalike.features import Embedder
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
