"""index_folder (lookalike.collection.sync): incremental updates, refusal to mix models, one writer at a
time, bad files and odd paths."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from collection.index_support import (
    SIZE,
    assert_consistent,
    assert_same_index,
    invoke,
    invoke_json,
    picture,
    rows,
    runner,
    vectors,
    write_images,
)
from lookalike.cli import app
from lookalike.collection import Index, embedder_meta, find_index, index_folder
from lookalike.collection.store import write_lock
from lookalike.errors import StoreError
from lookalike.features import Embedder
from png_bomb import png_header

# ----------------------------------------------------------------------------------------------------------
# Building and updating


def test_first_run_indexes_everything(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "photos"
    write_images(folder, [f"{c}/{i}.png" for c in "ab" for i in range(6)])
    report = index_folder(folder, embedder)
    assert (report.new, report.changed, report.unchanged, report.removed, report.failed) == (12, 0, 0, 0, [])
    assert report.created and report.images == 12
    location = folder / ".lookalike"
    assert find_index(folder / "a" / "0.png") == location
    got = rows(location)
    assert sorted(got) == sorted(f"{c}/{i}.png" for c in "ab" for i in range(6))
    size, mtime, sha, w, h, status, error = got["a/0.png"]
    st = (folder / "a/0.png").stat()
    assert (size, mtime, w, h, status, error) == (st.st_size, st.st_mtime_ns, 20, 20, "ok", None)
    import hashlib

    assert sha == hashlib.sha256((folder / "a/0.png").read_bytes()).hexdigest()
    stored = vectors(location)["b/3.png"]
    np.testing.assert_allclose(stored, embedder.embed([folder / "b/3.png"])[0].numpy(), rtol=1e-4, atol=1e-5)
    assert_consistent(location)


def test_exclude_patterns_are_remembered_replaced_and_dropped(tmp_path: Path, embedder: Embedder) -> None:
    from lookalike.errors import LookalikeError

    folder = tmp_path / "photos"
    write_images(folder, ["a.png", "b.tmp.png", "raw/c.png", "raw/deep/d.png", "trip/raw/e.png"])
    with pytest.raises(LookalikeError, match="exclude pattern '' is empty"):
        index_folder(folder, embedder, exclude=["*.tmp.png", ""])
    assert not (folder / ".lookalike" / "index.db").exists()  # refused before anything is written
    first = index_folder(folder, embedder, exclude=["*.tmp.png", "raw/**"])
    assert sorted(rows(folder / ".lookalike")) == ["a.png", "trip/raw/e.png"]
    assert (first.new, first.exclude, first.exclude_before) == (2, ["*.tmp.png", "raw/**"], None)
    assert (first.skipped.excluded, first.skipped.excluded_folders) == (1, 1)
    with Index.open(folder / ".lookalike") as idx:
        assert idx.exclude == ("*.tmp.png", "raw/**")
    again = index_folder(folder, embedder)  # None: the remembered patterns
    assert (again.new, again.removed, again.unchanged, again.exclude_before) == (0, 0, 2, None)
    swapped = index_folder(folder, embedder, exclude=["raw"])  # the raw folders at any depth instead
    assert (swapped.new, swapped.removed, swapped.exclude_before) == (1, 1, ["*.tmp.png", "raw/**"])
    assert sorted(rows(folder / ".lookalike")) == ["a.png", "b.tmp.png"]
    dropped = index_folder(folder, embedder, exclude=[])  # none from now on
    assert (dropped.new, dropped.removed, dropped.exclude, dropped.exclude_before) == (3, 0, [], ["raw"])
    assert len(rows(folder / ".lookalike")) == 5
    with Index.open(folder / ".lookalike") as idx:
        assert idx.exclude == () and idx.info()["exclude"] == []
    assert_consistent(folder / ".lookalike")


def test_rerun_embeds_only_what_changed(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "photos"
    paths = write_images(folder, [f"{i}.png" for i in range(8)])
    index_folder(folder, embedder)
    location = folder / ".lookalike"
    before = vectors(location)

    embedded: list[str] = []
    original = Embedder.iter_files

    def spy(self: Embedder, files: Any, **kw: Any) -> Iterator[Any]:
        embedded.extend(Path(f).name for f in files)
        return original(self, files, **kw)

    monkeypatch.setattr(Embedder, "iter_files", spy)
    report = index_folder(folder, embedder)
    assert (report.new, report.changed, report.unchanged, report.removed, embedded) == (0, 0, 8, 0, [])

    picture(100).save(paths[0])  # changed content
    paths[1].unlink()  # deleted
    write_images(folder, ["new.png"], seed=200)  # added
    os.utime(paths[2], ns=(1, 1))  # touched: mtime differs, content does not
    paths[3].rename(folder / "renamed.png")  # moved
    report = index_folder(folder, embedder)
    assert sorted(embedded) == ["0.png", "new.png"]
    assert (report.new, report.changed, report.moved, report.unchanged, report.removed) == (1, 1, 1, 5, 1)
    after = vectors(location)
    assert sorted(after) == sorted(
        ["0.png", "2.png", "4.png", "5.png", "6.png", "7.png", "new.png", "renamed.png"]
    )
    assert not np.allclose(after["0.png"], before["0.png"])  # no stale vector for the changed file
    np.testing.assert_array_equal(after["renamed.png"], before["3.png"])  # the vector moved with the file
    assert rows(location)["2.png"][1] == 1  # the new mtime is stored
    with Index.open(location) as idx:  # the deleted file is gone from search results too
        hits = idx.search(before["1.png"], k=8).hits
        assert "1.png" not in {h.relpath for h in hits} and len(hits) == 8
    assert_consistent(location)

    reference = tmp_path / "reference"  # an uninterrupted run from scratch gives the same index
    index_folder(folder, embedder, location=reference)
    assert_same_index(location, reference)


def test_other_model_or_preprocessing_is_refused(
    tmp_path: Path, weights: Path, embedder: Embedder, random_embedder: Embedder
) -> None:
    folder = tmp_path / "photos"
    write_images(folder, ["a.png", "b.png"])
    index_folder(folder, embedder)
    other_size = Embedder(weights, size=SIZE + 8, num_workers=0, device="cpu", precision="float32")
    with pytest.raises(StoreError) as info:
        index_folder(folder, other_size)
    msg = str(info.value)
    assert "\n" not in msg and "crop_size" in msg
    assert (
        info.value.hint == "pass `location=OTHER` for a separate index, or `rebuild=True` to replace this one"
    )
    assert f"{SIZE} px" in msg and f"{SIZE + 8} px" in msg
    with pytest.raises(StoreError, match="fingerprint"):
        index_folder(folder, random_embedder)
    assert rows(folder / ".lookalike").keys() == {"a.png", "b.png"}  # untouched
    report = index_folder(folder, other_size, rebuild=True)
    assert report.rebuilt and report.new == 2
    with Index.open(folder / ".lookalike") as idx:
        assert idx.made_by["crop_size"] == SIZE + 8
    assert_consistent(folder / ".lookalike")


def test_an_index_belongs_to_one_folder(tmp_path: Path, embedder: Embedder) -> None:
    write_images(tmp_path / "a", ["1.png"])
    write_images(tmp_path / "b", ["2.png"])
    index_folder(tmp_path / "a", embedder, location=tmp_path / "idx")
    with pytest.raises(StoreError, match=r"is the index of .*`location=OTHER`"):
        index_folder(tmp_path / "b", embedder, location=tmp_path / "idx")


def test_one_writer_at_a_time(tmp_path: Path, embedder: Embedder) -> None:
    write_images(tmp_path / "p", ["1.png"])
    busy = pytest.raises(StoreError, match=rf"another lookalike process \(pid {os.getpid()}\)")
    with write_lock(tmp_path / "p" / ".lookalike"), busy:
        index_folder(tmp_path / "p", embedder)


def test_random_weights_are_fingerprinted_by_value(random_embedder: Embedder) -> None:
    other = Embedder("none", model="resnet18", size=SIZE, device="cpu")
    fingerprint = embedder_meta(random_embedder)["fingerprint"]
    assert fingerprint.startswith("random:") and fingerprint == embedder_meta(random_embedder)["fingerprint"]
    assert fingerprint != embedder_meta(other)["fingerprint"]


# ----------------------------------------------------------------------------------------------------------
# Bad files and odd paths


BAD = {
    "corrupt.png": "image data is corrupt",
    "truncated.jpg": "truncated",
    "empty.jpg": "is empty (0 bytes)",
    "notes.jpg": "not an image",
    "bomb.png": "over the limit",
    "locked.png": "permission denied",
    "dangling.jpg": "broken symbolic link",
    "hidden-away": "cannot list the folder",
}


def make_bad_files(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One file (or folder) of each bad kind; permissions are refused by a patch when running as root."""
    good = folder / "good.jpg"
    picture(1, 64).save(good, quality=90)
    data = good.read_bytes()
    corrupt = folder / "corrupt.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(corrupt)
    png = bytearray(corrupt.read_bytes())
    start = png.find(b"IDAT") + 20
    png[start : start + 40] = bytes(b ^ 0xFF for b in png[start : start + 40])
    corrupt.write_bytes(bytes(png))
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.jpg").touch()
    (folder / "notes.jpg").write_text("these are my notes, not a photo\n" * 20)
    (folder / "bomb.png").write_bytes(png_header(100_000, 100_000))
    locked = folder / "locked.png"
    picture(2).save(locked)
    locked.chmod(0)
    (folder / "dangling.jpg").symlink_to(folder / "gone.jpg")
    away = folder / "hidden-away"
    write_images(away, ["x.png"])
    real_open, real_scandir = Path.open, os.scandir

    def refuse_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "locked.png":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    def refuse_scandir(path: Any = ".") -> Any:
        if Path(path).name == "hidden-away":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(Path, "open", refuse_open)
    monkeypatch.setattr(os, "scandir", refuse_scandir)


def test_bad_files_are_skipped_and_listed(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    make_bad_files(folder, monkeypatch)
    report = index_folder(folder, embedder)
    assert report.images == 1 and report.new == 1
    reasons = {f.path: f.reason for f in report.failed}
    assert reasons.keys() == BAD.keys()
    for name, words in BAD.items():
        assert words in reasons[name], (name, reasons[name])
        assert "\n" not in reasons[name]
    assert {f.path: f.kind for f in report.failed}["hidden-away"] == "folder"
    got = rows(folder / ".lookalike")
    assert got["good.jpg"][5] == "ok"
    assert {p for p, r in got.items() if r[5] == "failed"} == BAD.keys() - {"hidden-away"}
    assert got["bomb.png"][3:5] == (100_000, 100_000)  # the header was read, the pixels never
    # a rerun tries the failed files again and reports them again; nothing else changes
    again = index_folder(folder, embedder)
    assert {f.path for f in again.failed} == BAD.keys() and again.unchanged == 1 and again.removed == 0
    (folder / "locked.png").chmod(0o644)


def test_unreadable_folder_keeps_its_rows(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "photos"
    write_images(folder, ["a.png", "sub/b.png"])
    index_folder(folder, embedder)
    real_scandir = os.scandir

    def refuse(path: Any = ".") -> Any:
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    report = index_folder(folder, embedder)
    assert report.removed == 0 and [f.path for f in report.failed] == ["sub"]
    assert set(rows(folder / ".lookalike")) == {"a.png", "sub/b.png"}


def test_cli_bad_files_exit_codes(tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    make_bad_files(folder, monkeypatch)
    args = ["index", folder, "--weights", weights, "--size", str(SIZE), "--workers", "0"]
    code, out = invoke(*args)
    assert code == 0, out
    assert "failed 8 ·" in out and "failed 8:" in out
    for words in BAD.values():
        assert words in out
    result = runner.invoke(app, [*map(str, args), "--strict", "--json"])
    assert result.exit_code == 1 and "could not be indexed (--strict)" in result.output
    data = json.loads(result.stdout)
    assert len(data["failed"]) == 8 and data["images"] == 1 and data["unchanged"] == 1


def test_spaces_unicode_and_symlink_loops(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "my photos"
    names = ["a b/é 1.png", "日本/写真.png", "plain.png"]
    write_images(folder, names)
    (folder / "a b" / "loop").symlink_to(folder, target_is_directory=True)
    report = index_folder(folder, embedder)
    assert report.new == 3 and not report.failed
    assert set(rows(folder / ".lookalike")) == set(names)
    with Index.open(find_index(folder / "日本")) as idx:
        result = idx.search(folder / "日本" / "写真.png", k=2)
        assert result.query_kind == "indexed" and {h.relpath for h in result.hits} == {
            "a b/é 1.png",
            "plain.png",
        }
        assert idx.entry("a b/é 1.png") is not None
    _, data = invoke_json("search", folder / "a b" / "é 1.png", "-k", "2")
    assert {h["relpath"] for h in data["hits"]} == {"日本/写真.png", "plain.png"}


# ----------------------------------------------------------------------------------------------------------


def test_a_failed_model_export_leaves_the_index_whole(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build through PyTorch exports the model for torch-free queries at the end; if that fails, the
    index is still complete and says why in a warning (queries by image then load PyTorch)."""
    import lookalike.features.onnx as onnx

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the exporter broke")

    monkeypatch.setattr(onnx, "ensure_model", broken)
    folder = tmp_path / "photos"
    write_images(folder, ["a.png", "b.png", "c.png"])
    torch_embedder = Embedder(weights, size=SIZE, num_workers=0, device="cpu", backend="torch")
    with pytest.warns(UserWarning, match="the exporter broke"):
        report = index_folder(folder, torch_embedder)
    assert report.images == 3 and not (folder / ".lookalike" / "model.onnx").exists()
    with Index.open(folder / ".lookalike") as idx:
        assert idx.search("a.png", k=2).hits[0].relpath in ("b.png", "c.png")
