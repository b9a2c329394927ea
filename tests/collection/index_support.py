"""Helpers of the collection tests that embed with a real (random-weight) ResNet: generated pictures,
rows and vectors read straight from an index, the invariants of a finished run, the CLI in-process.
The fixtures that go with them (``embedder``, ``random_embedder``) are in ``conftest.py``, ``weights`` in
tests/conftest.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.collection import Index

SIZE = 16  # input pixels: a CIFAR-stem ResNet-18 at 16×16 embeds a few hundred images a second on 2 cores
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def picture(seed: int, size: int = 20) -> Image.Image:
    """A distinct little picture: a colour gradient with a bright square, both set by ``seed``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    c = rng.uniform(0, 255, (3, 3))
    img = c[:, 0, None, None] * x + c[:, 1, None, None] * y + c[:, 2, None, None] * (1 - x) * (1 - y) / 2
    img = np.clip(img.transpose(1, 2, 0), 0, 255)
    r, s = rng.integers(0, size // 2, 2)
    img[r : r + size // 3, s : s + size // 3] = rng.uniform(0, 255, 3)
    return Image.fromarray(img.astype(np.uint8))


def write_images(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        picture(seed + i).save(path)
        paths.append(path)
    return paths


def rows(location: Path) -> dict[str, tuple[Any, ...]]:
    """path → (size, mtime, sha, width, height, status, error) straight from the database."""
    with sqlite3.connect(location / "index.db") as conn:
        got = conn.execute(
            "SELECT path, size, mtime_ns, sha256, width, height, status, error FROM images"
        ).fetchall()
    out = {r[0]: tuple(r[1:]) for r in got}
    assert len(out) == len(got)  # no path twice
    return out


def vectors(location: Path) -> dict[str, np.ndarray]:
    with Index.open(location) as idx:
        entries = list(idx.entries())
        return {e.path: v for e, v in zip(entries, idx.vectors(entries), strict=True)}


def assert_consistent(location: Path) -> None:
    """Invariants of a finished run: vector rows unique and inside the committed part of the file, the
    search structure holding exactly the live vectors, no stray files."""
    with Index.open(location) as idx:
        meta = idx.meta()
        live = [e.vector for e in idx.entries()]
        assert len(live) == len(set(live))
        assert all(v is not None and 0 <= v < meta["vectors_count"] for v in live)
        size = (location / meta["vectors_file"]).stat().st_size
        assert size == meta["vectors_count"] * 4 * idx.dim
        info = idx.info()
        if live:
            assert info["search"]["ntotal"] == len(live)
            assert info["search"]["pending"] == 0 and info["search"]["dead"] == 0
        keep = {meta["vectors_file"], (meta.get("search") or {}).get("file")}
    stray = [
        p.name
        for p in location.iterdir()
        if p.name.startswith(("vectors-", "search-")) and p.name not in keep
    ]
    assert not stray


def assert_same_index(a: Path, b: Path) -> None:
    """Same rows (every column but the vector's position) and the same vector for every path."""
    assert rows(a) == rows(b)
    va, vb = vectors(a), vectors(b)
    assert va.keys() == vb.keys()
    for path in va:
        np.testing.assert_allclose(va[path], vb[path], rtol=1e-4, atol=1e-5, err_msg=path)


def invoke(*args: str | Path) -> tuple[int, str]:
    """Exit code and everything printed (stdout and stderr)."""
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def invoke_json(*args: str | Path) -> tuple[int, Any]:
    """Exit code and the JSON on stdout (progress goes to stderr)."""
    result = runner.invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return result.exit_code, json.loads(result.stdout)
