"""Shared by the web tests: a small real index of CIFAR-10 images (with planted duplicates, a symbolic
link out of the indexed folder and a PPM file), ``lookalike serve`` started as a user starts it, in a
subprocess on 127.0.0.1 and a free port, the checks and request helpers the tests of each web module use,
and :func:`bare_app`: one router mounted alone on a bare FastAPI app with a state of the test's own.

FastAPI is imported only when a helper needs it, so a test module can still skip without the web extra.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
from PIL import Image, ImageOps

from png_bomb import png_header
from shared_data import CIFAR, WEIGHTS, needs_shared

__all__ = [
    "CIFAR",
    "WEIGHTS",
    "bare_app",
    "bomb_png",
    "ids_by_path",
    "image_bytes",
    "make_collection",
    "needs_shared",
    "one_line",
    "png_bytes",
    "raw_request",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name == "TestClient":  # FastAPI's test client, imported on first use
        import warnings

        with warnings.catch_warnings():  # Starlette 1.x asks for httpx2; the client works the same with httpx
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        return TestClient
    raise AttributeError(f"module 'web_support' has no attribute {name!r}")


CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PER_CLASS = 8


def make_collection(base: Path, *, phone: bool = False) -> Path:
    """``base/photos`` (80 CIFAR-10 images, 8 a class, plus planted duplicates of ``cat/0000.jpg``: an
    exact copy, a mirror image and a 2× enlargement; a PPM file; a link to ``base/outside/secret.jpg``)
    indexed with the shared ResNet-18 into ``photos/.lookalike``. With ``phone``, also the enlargement
    saved as a phone would (``copies/cat-phone.heic``) and a note no reader takes (``notes.txt``).
    Returns the index location."""
    from lookalike.collection import index_folder
    from lookalike.features import Embedder

    photos = base / "photos"
    for name in CLASSES:
        (photos / name).mkdir(parents=True)
        for src in sorted((CIFAR / name).iterdir())[:PER_CLASS]:
            shutil.copyfile(src, photos / name / src.name)
    cat = sorted((photos / "cat").iterdir())[0]
    dups = photos / "copies"
    dups.mkdir()
    shutil.copyfile(cat, dups / "cat-copy.jpg")
    with Image.open(cat) as img:
        ImageOps.mirror(img).save(dups / "cat-mirrored.png")
        img.resize((64, 64), Image.Resampling.BICUBIC).save(dups / "cat-large.png")
        img.save(photos / "cat.ppm")
        if phone:
            from lookalike.formats import pillow_formats

            pillow_formats()  # registers pillow-heif's writer too
            img.resize((64, 64), Image.Resampling.BICUBIC).save(dups / "cat-phone.heic", quality=90)
            (photos / "notes.txt").write_text("not an image\n")
    outside = base / "outside"
    outside.mkdir()
    shutil.copyfile(sorted((CIFAR / "ship").iterdir())[-1], outside / "secret.jpg")
    (photos / "link-out.jpg").symlink_to(outside / "secret.jpg")
    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    report = index_folder(photos, embedder)
    assert not report.failed, report.failed
    return report.location


#: The token the tests start ``lookalike serve`` with, and the header that carries it.
TOKEN = "tests-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def serve(location: Path, *extra: str, timeout: float = 90.0) -> Iterator[str]:
    """``lookalike serve --index LOCATION --port 0 --token TOKEN`` in a subprocess (``--no-token`` or
    another ``--token`` in ``extra`` instead); yields its address without the token once it answers, and
    stops it with Ctrl+C (SIGINT) afterwards. Requests carry :data:`AUTH`."""
    import httpx

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LOOKALIKE_TOKEN", None)
    own = [] if {"--token", "--no-token"} & set(extra) else ["--token", TOKEN]
    cmd = [sys.executable, "-m", "lookalike", "serve", "--index", str(location), "--port", "0", *own, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"at (http://[\d.]+:\d+/)", line)
            if m and not found:
                found.append(m[1])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not found:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
                raise RuntimeError(f"lookalike serve did not start: {''.join(lines)} {err}")
            time.sleep(0.05)
        url = found[0]
        while True:  # the socket is bound before uvicorn starts answering
            try:
                if httpx.get(url + "api/info", headers=AUTH, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("lookalike serve does not answer")
            time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ----------------------------------------------------------------------------------------------------------
# Helpers of the tests of lookalike.web


def bare_app(*routers: Any, state: Any = None) -> Any:
    """A bare FastAPI app with only ``routers``, the web app's error handlers and ``state`` as its
    :class:`lookalike.web.state.AppState` (any object with the attributes the routes read)."""
    from fastapi import FastAPI

    from lookalike.web.handlers import add_error_handlers

    app = FastAPI()
    if state is not None:
        app.state.lookalike = state
    add_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def ids_by_path(client: Any) -> dict[str, int]:
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


async def raw_request(app: Any, raw_path: str, method: str = "GET") -> tuple[int, bytes]:
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
