"""Shared by the web tests: a small real index of CIFAR-10 images (with planted duplicates, a symbolic
link out of the indexed folder and a PPM file), and ``lookalike serve`` started as a user starts it, in a
subprocess on 127.0.0.1 and a free port."""

from __future__ import annotations

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

from PIL import Image, ImageOps

from shared_data import CIFAR, WEIGHTS, needs_shared

__all__ = ["CIFAR", "WEIGHTS", "make_collection", "needs_shared", "serve"]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PER_CLASS = 8


def make_collection(base: Path) -> Path:
    """``base/photos`` (80 CIFAR-10 images, 8 a class, plus planted duplicates of ``cat/0000.jpg``: an
    exact copy, a mirror image and a 2× enlargement; a PPM file; a link to ``base/outside/secret.jpg``)
    indexed with the shared ResNet-18 into ``photos/.lookalike``. Returns the index location."""
    from lookalike.features import Embedder
    from lookalike.index import index_folder

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
    outside = base / "outside"
    outside.mkdir()
    shutil.copyfile(sorted((CIFAR / "ship").iterdir())[-1], outside / "secret.jpg")
    (photos / "link-out.jpg").symlink_to(outside / "secret.jpg")
    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    report = index_folder(photos, embedder)
    assert not report.failed, report.failed
    return report.location


@contextmanager
def serve(location: Path, *extra: str, timeout: float = 90.0) -> Iterator[str]:
    """``lookalike serve --index LOCATION --port 0`` in a subprocess; yields its URL once it answers, and
    stops it with Ctrl+C (SIGINT) afterwards."""
    import httpx

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "lookalike", "serve", "--index", str(location), "--port", "0", *extra]
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
                if httpx.get(url + "api/info", timeout=5).status_code == 200:
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
