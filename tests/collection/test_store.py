"""The store (lookalike.collection.store): readers answer while a writer adds images."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from collection.storage_support import (
    ROOT,
    PixelEmbedder,
    assert_as_from_scratch,
    cli,
    one_error_line,
    photos,
    vectors,
)
from lookalike.collection import Index, index_folder
from lookalike.errors import StoreError

# ----------------------------------------------------------------------------------------------------------
# Readers and a writer at once

WRITER = r"""
import sys, time
from pathlib import Path
import lookalike.collection as collection
import lookalike.collection.writer as writer
from pixel_embedder import PixelEmbedder

class Pixels(PixelEmbedder):
    backend = "torch"

folder, location, base = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
stops = [int(s) for s in sys.argv[4:]]  # wait at these committed row counts until the test says go
writer._FLUSH_ROWS = 8
flush = collection.Writer.flush

def paused(self):
    flush(self)
    if stops and self.index.count >= stops[0]:
        n = stops.pop(0)
        (location / f"paused-{n}").write_text(str(self.index.count))
        deadline = time.monotonic() + 120
        while not (location / f"go-{n}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)

collection.Writer.flush = paused
collection.index_folder(folder, Pixels(4), location=location)
"""


def test_readers_answer_while_a_writer_adds_images(tmp_path: Path) -> None:
    """`serve` (a real server on 127.0.0.1) and an open :class:`Index` keep answering from the last committed
    state while `index` adds 300 images, and see each new state without being restarted."""
    httpx = pytest.importorskip("httpx")
    from web_support import AUTH, serve

    folder = photos(tmp_path / "photos", 100)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    photos(folder, 300, start=100)
    reader = Index.open(location)
    probe = vectors(location)["0005.png"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    with serve(location) as url, httpx.Client(base_url=url, timeout=30, headers=AUTH) as http:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(location), "100", "160", "300"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            counts: list[int] = []

            def read_everything() -> int:
                """One round of reads; returns the number of images both readers agree on."""
                hits = reader.search(probe, k=5).hits
                assert len(hits) == 5 and hits[0].relpath == "0005.png"
                assert len(reader.search("0042.png", k=3).hits) == 3
                info = http.get("/api/info")
                assert info.status_code == 200, info.text
                ids = http.get("/api/images", params={"limit": 500}).json()["images"]
                found = http.get("/api/search", params={"id": ids[-1]["id"], "k": 4})
                assert found.status_code == 200 and len(found.json()["hits"]) == 4, found.text
                counts.append(info.json()["images"])
                return counts[-1]

            for stop in (160, 300):
                marker = location / f"paused-{stop}"
                for _ in range(200):  # bounded: load while the writer embeds, until it pauses
                    read_everything()
                    if marker.exists() or writer.poll() is not None:
                        break
                assert marker.exists(), writer.stderr.read() if writer.poll() is not None else "no pause"
                committed_now = int(marker.read_text())
                assert read_everything() == reader.count == committed_now  # the new state, no restart
                new = f"{committed_now - 1:04d}.png"
                assert reader.search(vectors(location)[new], k=1).hits[0].relpath == new
                code, out, err = cli("search", folder / new, "-k", "3", "--json")  # a new process, too
                assert code == 0 and len(json.loads(out)["hits"]) == 3, err
                (location / f"go-{stop}").touch()
            for _ in range(200):
                read_everything()
                if writer.poll() is not None:
                    break
            assert writer.wait(120) == 0, writer.stderr.read()
            assert read_everything() == reader.count == 400
            assert counts == sorted(counts)  # never a step back to an older state
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
            reader.close()
    for marker in location.glob("paused-*"):
        marker.unlink()
    for marker in location.glob("go-*"):
        marker.unlink()
    assert_as_from_scratch(folder, location, tmp_path / "scratch")


# ----------------------------------------------------------------------------------------------------------
# The store's own methods


def test_compare_sorts_the_files_by_what_changed(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 4)
    index_folder(folder, PixelEmbedder())
    with Index.open(folder / ".lookalike") as idx:
        store = idx.store
        e = {entry.path: entry for entry in store.entries()}
        size, mtime = {p: x.size for p, x in e.items()}, {p: x.mtime_ns for p, x in e.items()}
        scanned = [
            ("0000.png", size["0000.png"], mtime["0000.png"]),  # unchanged
            ("0001.png", size["0001.png"], mtime["0001.png"] + 1),  # touched: same size, other mtime
            ("0002.png", size["0002.png"] + 1, mtime["0002.png"]),  # changed size
            ("new.png", 10, 1),
            ("no-stat.png", None, None),  # could not be stat'ed: neither new nor gone
        ]
        diff = store.compare(scanned, skip=[])
        assert diff.unchanged == 1
        assert diff.touched == [("0001.png", size["0001.png"], mtime["0001.png"] + 1, e["0001.png"].sha256)]
        assert diff.changed == [("0002.png", size["0002.png"] + 1, mtime["0002.png"])]
        assert diff.new == [("new.png", 10, 1)] and diff.retry == []
        assert [g[1] for g in diff.gone] == ["0003.png"] and diff.gone[0][4] == "ok"
        assert store.count == 4  # comparing writes no row


def test_compare_keeps_rows_below_unlistable_folders(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 2)
    photos(folder / "sub", 2, start=10)
    index_folder(folder, PixelEmbedder())
    with Index.open(folder / ".lookalike") as idx:
        gone = idx.store.compare([], skip=["sub"]).gone
    assert sorted(g[1] for g in gone) == ["0000.png", "0001.png"]


def test_store_reads_rows_and_vectors_and_commits_or_rolls_back(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 3)
    index_folder(folder, PixelEmbedder())
    with Index.open(folder / ".lookalike") as idx:
        store = idx.store
        entry = store.find(folder / "0001.png")
        assert (
            entry is not None and entry == store.entry("0001.png") and store.relpath("0001.png") == "0001.png"
        )
        assert store.find(tmp_path / "elsewhere.png") is None and store.entry("elsewhere.png") is None
        assert entry.vector is not None
        assert sorted(store.live_vids().tolist()) == sorted(e.vector for e in store.entries())
        assert store.rows_for([entry.vector]) == {entry.vector: entry}
        np.testing.assert_array_equal(
            store.vectors([entry])[0], store.read_vectors(np.array([entry.vector], dtype=np.int64))[0]
        )
        assert store.root == folder.absolute() and store.count == 3
        before = store.data_version()
        assert store.data_version() == before  # nothing committed since
        store.set_meta(note="x")
        assert store.meta()["note"] == "x" and store.data_version() != before
        with pytest.raises(RuntimeError), store.transaction() as conn:
            conn.execute("DELETE FROM images")
            raise RuntimeError("rolled back")
        assert store.count == 3


def test_an_incomplete_or_newer_catalogue_says_rebuild(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 2)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    with contextlib.closing(sqlite3.connect(location / "index.db")) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    with pytest.raises(StoreError, match="newer lookalike") as newer:
        Index.open(location)
    assert newer.value.hint == "upgrade lookalike, or rebuild the index with `rebuild=True`"
    with contextlib.closing(sqlite3.connect(location / "index.db")) as conn, conn:
        conn.execute("DELETE FROM meta WHERE key = 'format'")
    with pytest.raises(StoreError, match="not a complete lookalike index") as incomplete:
        Index.open(location)
    assert incomplete.value.hint == "index the folder again with `rebuild=True`"
    code, _, err = cli("search", folder / "0000.png", "--index", location)
    line = one_error_line(err)
    assert code == 1 and "not a complete lookalike index" in line and "rebuild" in line, line
    assert index_folder(folder, PixelEmbedder(), rebuild=True).rebuilt  # what the hint says works
    with Index.open(location) as idx:
        assert idx.count == 2
