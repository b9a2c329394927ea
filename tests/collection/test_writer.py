"""The writer (lookalike.collection.writer): kill -9 at several moments then a rerun equals an
uninterrupted run, compaction keeps every vector, stray files of a crash are cleaned."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collection.index_support import (
    ROOT,
    SIZE,
    assert_consistent,
    assert_same_index,
    picture,
    vectors,
    write_images,
)
from lookalike.collection import Entry, Index, index_folder
from lookalike.collection import writer as writer_module
from lookalike.features import Embedder
from pixel_embedder import PixelEmbedder

# kill -9


CHILD = r"""
import os, signal, sys
import lookalike.collection as collection
from lookalike.collection import store, writer
from pixel_embedder import PixelEmbedder

folder, location, mode, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
writer._FLUSH_ROWS = 4  # commit every batch, so that there are many moments to die at
calls = []

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if mode == "vectors-written":  # vectors appended and fsynced, their rows not committed
    fsync = store.fsync
    def patched(fd):
        fsync(fd)
        calls.append(1)
        if len(calls) == nth:
            die()
    store.fsync = patched
elif mode == "rows-committed":  # right after the nth commit of rows
    flush = collection.Writer.flush
    def patched(self):
        had = bool(self._rows)
        flush(self)
        calls.append(had)
        if sum(calls) == nth:
            die()
    collection.Writer.flush = patched
elif mode == "removals-committed":  # deletions, renames and touches committed, nothing embedded yet
    apply = collection.Writer.apply
    def patched(self, **kwargs):
        apply(self, **kwargs)
        die()
    collection.Writer.apply = patched
elif mode == "search-written":  # the new search structure is on disk, the meta table not pointed at it
    def patched(self, *args, **kwargs):
        die()
    collection.Writer._point_search = patched
elif mode == "compacting":  # the compacted vectors file is written and fsynced, not yet committed
    writer._COMPACT_MIN, writer._COMPACT_DEAD = 0, 0.0
    compact = collection.Writer.compact
    def patched(self):
        store.Store.transaction = lambda self: die()
        return compact(self)
    collection.Writer.compact = patched
collection.index_folder(folder, PixelEmbedder(), location=location)
sys.exit(3)  # reaching this line means the kill point was never hit
"""


def changing_folder(tmp_path: Path, embedder: Any) -> tuple[Path, Path]:
    """A folder indexed once, then changed: files added, changed, deleted, renamed, touched."""
    folder = tmp_path / "photos"
    paths = write_images(folder, [f"{i:02d}.png" for i in range(14)])
    location = tmp_path / "index"
    index_folder(folder, embedder, location=location)
    for p in paths[:3]:
        picture(int(p.stem) + 500).save(p)
    for p in paths[3:6]:
        p.unlink()
    paths[6].rename(folder / "moved.png")
    os.utime(paths[7], ns=(5, 5))
    write_images(folder, [f"new {i}.png" for i in range(10)], seed=1000)
    return folder, location


@pytest.mark.parametrize(
    ("mode", "nth"),
    [
        ("removals-committed", 1),
        ("vectors-written", 2),
        ("rows-committed", 2),
        ("search-written", 1),
        ("compacting", 1),
    ],
)
def test_killed_run_then_rerun_equals_an_uninterrupted_run(tmp_path: Path, mode: str, nth: int) -> None:
    """kill -9 at chosen moments of an incremental run (the store with a torch-free stand-in embedder,
    so that each child process starts fast); the rerun must equal a run that was never interrupted."""
    pixels = PixelEmbedder()
    folder, location = changing_folder(tmp_path, pixels)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(location), mode, str(nth)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    report = index_folder(folder, pixels, location=location)  # the rerun
    if mode == "removals-committed":
        assert (report.removed, report.moved, report.embedded) == (0, 0, 13)  # done before the kill
    else:
        assert report.embedded < 13  # the rerun picked up where the killed run stopped
    reference = tmp_path / "reference"
    index_folder(folder, pixels, location=reference)  # uninterrupted, from scratch
    assert_same_index(location, reference)
    assert_consistent(location)
    with Index.open(location) as idx:
        assert idx.count == 14 - 3 + 10
        assert idx.search("moved.png", k=1, include_self=True).hits[0].score == pytest.approx(1.0)


def test_cli_killed_mid_embedding(tmp_path: Path, weights: Path, embedder: Embedder) -> None:
    """A real kill -9 of `lookalike index` while it embeds, at a moment the test does not choose."""
    folder = tmp_path / "photos"
    write_images(folder, [f"{i:03d}.png" for i in range(40)])
    location = folder / ".lookalike"
    script = (
        "import sys, time, lookalike.collection.writer as w; w._FLUSH_ROWS = 4; "
        "from lookalike.cli import main; "
        "from lookalike.features import Embedder as E; slow = E.embed_batch; "
        "E.embed_batch = lambda self, b: (time.sleep(0.05), slow(self, b))[1]; "
        f"sys.argv = ['lookalike', 'index', {str(folder)!r}, '--weights', {str(weights)!r}, "
        f"'--size', '{SIZE}', '--batch-size', '4', '--workers', '0', '--precision', 'float32']; main()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 90
        committed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            try:
                with sqlite3.connect(f"file:{location / 'index.db'}?mode=ro", uri=True, timeout=1) as conn:
                    committed = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
            except sqlite3.Error:
                continue
            if committed >= 12:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL and 12 <= committed < 40
    report = index_folder(folder, embedder)
    assert report.unchanged >= 12 and report.new <= 28
    reference = tmp_path / "reference"
    index_folder(folder, embedder, location=reference)
    assert_same_index(location, reference)
    assert_consistent(location)


def test_compaction_keeps_every_vector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = PixelEmbedder()
    folder, location = changing_folder(tmp_path, pixels)
    before = vectors(location)
    monkeypatch.setattr(writer_module, "_COMPACT_MIN", 0)
    monkeypatch.setattr(writer_module, "_COMPACT_DEAD", 0.0)
    index_folder(folder, pixels, location=location)
    with Index.open(location) as idx:
        assert idx.meta()["vectors_count"] == idx.count == 21  # the dead rows are gone from the file
    np.testing.assert_array_equal(vectors(location)["moved.png"], before["06.png"])
    reference = tmp_path / "reference"
    index_folder(folder, pixels, location=reference)
    assert_same_index(location, reference)
    assert_consistent(location)


def test_stray_files_of_a_crash_are_cleaned(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "photos"
    write_images(folder, ["a.png", "b.png"])
    index_folder(folder, embedder)
    location = folder / ".lookalike"
    with Index.open(location) as idx:
        meta = idx.meta()
    with (location / meta["vectors_file"]).open("ab") as f:
        f.write(b"\1" * 4 * 512 * 3)  # orphan vectors past the committed count
    (location / "vectors-0123456789ab.f32").write_bytes(b"x")
    (location / "search-0123456789ab.faiss.tmp").write_bytes(b"x")
    write_images(folder, ["c.png"], seed=9)
    index_folder(folder, embedder)
    assert_consistent(location)
    assert set(vectors(location)) == {"a.png", "b.png", "c.png"}


# ----------------------------------------------------------------------------------------------------------


def test_writer_counts_vector_rows_and_compacts_only_when_wasteful(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = {"model": "synthetic", "fingerprint": "synthetic", "dim": 4, "crop_size": 0}
    data = np.arange(40, dtype=np.float32).reshape(10, 4) + 1
    with Index.create(tmp_path / "idx", root=tmp_path, embedder=meta) as idx:
        with idx.writer(flush_rows=4) as w:
            w.put([Entry(f"{i}.png", i, i, None) for i in range(10)], data)
            w.flush()
            assert w.vector_rows == 10
            w.apply(remove=[f"{i}.png" for i in range(6)])
            assert w.compact_if_wasteful() == 0 and w.vector_rows == 10  # 6 dead: fewer than 10,000
            monkeypatch.setattr(writer_module, "_COMPACT_MIN", 5)
            assert w.compact_if_wasteful() == 6 and w.vector_rows == 4
            assert w.compact_if_wasteful() == 0
        np.testing.assert_array_equal(idx.vectors(list(idx.entries())), data[6:])
