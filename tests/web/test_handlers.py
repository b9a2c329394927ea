"""The error answers (:mod:`lookalike.web.handlers`): one line of JSON, the status each error calls for."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.errors import ImageError, LookalikeError, StoreError
from lookalike.web.collection import ServeError
from lookalike.web.uploads import UploadError
from web_support import TestClient, bare_app, one_line


def test_each_error_is_one_line_of_json_with_its_status() -> None:
    from fastapi import APIRouter

    router = APIRouter()
    raised: dict[str, Exception] = {
        "served": ServeError(403, "image 3 resolves outside", "lookalike serves only files inside it"),
        "upload": UploadError(413, "the upload is larger than the upload limit of 1 KB"),
        "store": StoreError("the index is busy", "try again"),
        "image": ImageError("not an image"),
        "other": LookalikeError("something else"),
        "bug": RuntimeError("a bug\nover two lines"),
    }

    @router.get("/raise/{name}")
    def fail(name: str, n: int = 0) -> None:
        raise raised[name]

    c = TestClient(bare_app(router), raise_server_exceptions=False)
    for name, status, detail in [
        ("served", 403, "image 3 resolves outside; lookalike serves only files inside it"),
        ("upload", 413, "the upload is larger than the upload limit of 1 KB"),
        ("store", 409, "the index is busy; try again"),
        ("image", 422, "not an image"),
        ("other", 400, "something else"),
        ("bug", 500, "internal error (RuntimeError); the server log has the details"),
    ]:
        r = c.get(f"/raise/{name}")
        assert (r.status_code, one_line(r)) == (status, detail), name
        assert r.headers["cache-control"] == "no-store"
    invalid = c.get("/raise/store", params={"n": "many"})
    assert invalid.status_code == 422 and one_line(invalid).startswith("n: ")
    missing = c.get("/nowhere")
    assert missing.status_code == 404 and one_line(missing) == "Not Found"
