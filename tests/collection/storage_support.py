"""Helpers of the tests that make an index's disk fail for real: ``lookalike`` in a child process (with
the torch-free :class:`PixelEmbedder` and a commit every 16 images, see ``CLI``), its one error line, photo
folders, rows and vectors read straight from an index, a small tmpfs."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.collection import Index, index_folder
from lookalike.collection.health import health
from pixel_embedder import PixelEmbedder as _PixelEmbedder

ROOT = Path(__file__).resolve().parents[2]


class PixelEmbedder(_PixelEmbedder):
    backend = "torch"  # as far as the store can tell


# ``lookalike`` itself, with PixelEmbedder for the model and a commit every 16 images.
CLI = r"""
import sys
import lookalike.features as features
import lookalike.collection.writer as writer
from pixel_embedder import PixelEmbedder

class Pixels(PixelEmbedder):
    device = "cpu"
    backend = "torch"

    def __init__(self, *args, **kwargs):
        super().__init__(8)

features.Embedder = Pixels
writer._FLUSH_ROWS = 16
from lookalike.cli import main

sys.argv = ["lookalike", *sys.argv[1:]]
main()
"""


def cli(*args: str | Path, limit: int | None = None, nobody: bool = False) -> tuple[int, str, str]:
    """``lookalike ARGS`` in a child process: exit code, stdout, stderr. ``limit`` sets RLIMIT_FSIZE;
    ``nobody`` runs it as user and group 65534 (from root)."""

    def set_limit() -> None:
        import resource

        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    become = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if nobody else []
    proc = subprocess.run(
        [*become, sys.executable, "-c", CLI, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=set_limit,  # the test process starts no threads that could hold locks
        cwd=ROOT,
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line of a failed command (and no traceback, no "please report it")."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in stderr and "unexpected" not in stderr and "please report" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def picture(seed: int, size: int = 20) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def photos(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        picture(i).save(folder / f"{i:04d}.png")
    return folder


def rows(location: Path) -> dict[str, tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(location / "index.db")) as conn:
        got = conn.execute(
            "SELECT path, size, mtime_ns, sha256, width, height, status, error FROM images"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in got}


def vectors(location: Path) -> dict[str, np.ndarray]:
    with Index.open(location) as idx:
        entries = list(idx.entries())
        return {e.path: v for e, v in zip(entries, idx.vectors(entries), strict=True)}


def assert_as_from_scratch(folder: Path, location: Path, scratch: Path) -> None:
    """The index at ``location`` equals one built from scratch on ``folder``: the same rows, vectors with
    cosine ≥ 0.9999, every vector readable, a search structure that holds exactly the live vectors."""
    index_folder(folder, PixelEmbedder(), location=scratch)
    assert rows(location) == rows(scratch)
    got, want = vectors(location), vectors(scratch)
    assert got.keys() == want.keys()
    for path, v in want.items():
        w = got[path]
        assert float(v @ w / (np.linalg.norm(v) * np.linalg.norm(w))) >= 0.9999, path
    h = health(location)
    assert h["catalogue"] == "ok" and h["vectors"]["lost"] == 0, h
    assert h["search"]["state"] == "current" and h["copy"]["images"] == len(want), h


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (skips where this machine does not let the tests mount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root; the RLIMIT_FSIZE test covers a full disk here")
    path.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def committed(location: Path) -> int:
    with contextlib.closing(sqlite3.connect(location / "index.db")) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM images WHERE status = 'ok'").fetchone()[0])
