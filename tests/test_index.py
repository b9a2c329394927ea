"""The collection store and search: incremental updates, refusal to mix models, bad files, odd paths,
exact and approximate search, re-ranking, contact sheets, the CLI, and kill -9 at several moments."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.collection import writer as writer_module
from lookalike.cli import app
from lookalike.errors import StoreError
from lookalike.features import Embedder
from lookalike.collection.store import write_lock
from lookalike.index import Entry, Index, embedder_meta, find_index, index_folder
from lookalike.search import ivf_lists
from pixel_embedder import PixelEmbedder
from png_bomb import png_header

SIZE = 16  # input pixels: a CIFAR-stem ResNet-18 at 16×16 embeds a few hundred images a second on 2 cores
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


# ----------------------------------------------------------------------------------------------------------
# Fixtures: deterministic weights in a file, generated images


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random CIFAR-stem ResNet-18 weights saved to a file: the same vectors in every process."""
    import torch

    from lookalike.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-random.pt"
    torch.save(create_model("resnet18", num_classes=10, cifar_stem=True).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def embedder(weights: Path) -> Embedder:
    return Embedder(weights, size=SIZE, batch_size=8, num_workers=0, device="cpu", precision="float32")


@pytest.fixture(scope="session")
def random_embedder() -> Embedder:
    """Random weights that exist only in this process (``--weights none``)."""
    return Embedder("none", model="resnet18", size=SIZE, num_workers=0, device="cpu")


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
    assert "\n" not in msg and "--index OTHER" in msg and "--rebuild" in msg and "crop_size" in msg
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
    with pytest.raises(StoreError, match=r"is the index of .*--index OTHER"):
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
    assert "failed 8" in out and "skipped 8" in out
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
# Search


def synthetic_index(location: Path, vectors: np.ndarray, **refresh: Any) -> Index:
    """An index of synthetic vectors written through the store's own writer."""
    meta = {"model": "synthetic", "fingerprint": "synthetic", "dim": vectors.shape[1], "crop_size": 0}
    idx = Index.create(location, root=location.parent, embedder=meta)
    with idx.writer() as w:
        w.put([Entry(f"v{i:05d}.png", i, i, None) for i in range(len(vectors))], vectors)
        w.refresh_search(**refresh)
    return idx


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(4, n // 50), dim)) * 3
    x = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, dim))
    return (x + 4).astype(np.float32)  # positive, like features after a ReLU, with varied norms


def brute(vectors: np.ndarray, q: np.ndarray, metric: str) -> list[int]:
    v, q = vectors.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        key = -(v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q))
    elif metric == "ncc":
        vc, qc = v - v.mean(1, keepdims=True), q - q.mean()
        key = -(vc @ qc) / (np.linalg.norm(vc, axis=1) * np.linalg.norm(qc))
    elif metric == "l1":
        key = np.abs(v - q).sum(1)
    else:  # l2 and mse rank alike
        key = ((v - q) ** 2).sum(1)
    return list(np.argsort(key, kind="stable"))


@pytest.mark.parametrize("metric", ["cosine", "l2", "l1", "mse", "ncc"])
def test_exact_search_matches_brute_force(tmp_path: Path, metric: str) -> None:
    data = clustered(400)
    with synthetic_index(tmp_path / "idx", data) as idx:
        for qi in (0, 57, 311):
            q = data[qi] + 0.3
            result = idx.search(q, k=10, metric=metric, candidates=400)
            assert result.exact and result.structure == "Flat"
            assert [int(h.relpath[1:6]) for h in result.hits] == brute(data, q, metric)[:10]
            scores = [h.score for h in result.hits]
            assert scores == sorted(scores, reverse=result.higher_is_better)
        hit = idx.search(data[5] + 0.3, k=1, metric="l2", candidates=400).hits[0]
        assert hit.score == pytest.approx(
            float(np.linalg.norm(data[int(hit.relpath[1:6])] - data[5] - 0.3)), rel=1e-4
        )


def test_search_batch_matches_single_searches(tmp_path: Path) -> None:
    data = clustered(300, seed=5)
    with synthetic_index(tmp_path / "idx", data) as idx:
        entries, vecs = next(idx.iter_vectors(batch=40))
        assert len(entries) == 40 and [e.path for e in entries] == sorted(e.path for e in entries)
        np.testing.assert_array_equal(vecs, data[:40])
        batch = idx.search_batch(vecs, k=5, skip=[e.path for e in entries])
        for e, v, hits in zip(entries, vecs, batch, strict=True):
            single = [h.relpath for h in idx.search(v, k=6).hits if h.relpath != e.path][:5]
            assert [x.path for _, x in hits] == single


def test_stale_vectors_never_come_back(tmp_path: Path) -> None:
    """Rows committed after the search structure was saved are found, replaced vectors are not."""
    data = clustered(200, seed=6)
    with synthetic_index(tmp_path / "idx", data) as idx:
        idx.search(data[0], k=1)  # loads the structure
        with idx.writer() as w:  # no refresh_search: the saved structure is now behind the rows
            w.put([Entry("v00003.png", 1, 1, None)], -data[3:4])
            w.put([Entry("late.png", 1, 1, None)], data[7:8] * 1.01)
        hits = idx.search(data[3], k=10).hits
        assert "v00003.png" not in {h.relpath for h in hits} and len(hits) == 10
        assert idx.search(data[7], k=2).hits[0].relpath in {"v00007.png", "late.png"}
        assert {h.relpath for h in idx.search(data[7], k=2).hits} == {"v00007.png", "late.png"}
        assert idx.search(-data[3], k=1).hits[0].relpath == "v00003.png"
        info = idx.info()["search"]
        assert (info["pending"], info["dead"]) == (2, 1)


def test_contact_sheet_shows_unreadable_files(tmp_path: Path) -> None:
    from lookalike.report import Tile, contact_sheet_html, contact_sheet_png

    good = tmp_path / "good.png"
    picture(0).save(good)
    tiles = [Tile(good, "#1 · 0.99", "good.png"), Tile(tmp_path / "gone.png", "#2 · 0.5", "gone.png")]
    page = contact_sheet_html(tiles, tmp_path / "s.html", title="t <1>").read_text()
    assert page.count("data:image/jpeg;base64,") == 1 and "no such file" in page and "t &lt;1&gt;" in page
    with Image.open(contact_sheet_png(tiles, tmp_path / "s.png", title="t")) as img:
        assert img.format == "PNG"


def test_reranking_uses_only_the_cosine_candidates(tmp_path: Path) -> None:
    data = clustered(400, seed=1)
    with synthetic_index(tmp_path / "idx", data) as idx:
        q = data[10] * 1.5
        result = idx.search(q, k=5, metric="l1", candidates=20)
        pool = set(brute(data, q, "cosine")[:20])
        assert result.candidates == 20 and {int(h.relpath[1:6]) for h in result.hits} <= pool
        ranked = sorted(pool, key=lambda i: np.abs(data[i] - q).sum())[:5]
        assert [int(h.relpath[1:6]) for h in result.hits] == ranked


def test_approximate_structure_above_the_threshold(tmp_path: Path) -> None:
    data = clustered(3000)
    with synthetic_index(tmp_path / "idx", data, flat_max=1000) as idx:
        info = idx.info()["search"]
        assert info["kind"] == "ivf-sq" and info["factory"] == f"IVF{ivf_lists(3000)},SQfp16"
        assert 1 <= info["nprobe"] <= info["nlist"] and info["tuned_recall_at_10"] >= 0.97
        queries = data[:50] + 0.2
        truth = [brute(data, q, "cosine")[:10] for q in queries]
        found = [[int(h.relpath[1:6]) for h in idx.search(q, k=10).hits] for q in queries]
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
        assert recall >= 0.9
        assert not idx.search(queries[0]).exact
        # updates in place: new vectors added, dead ones removed, no retraining
        with idx.writer() as w:
            w.put([Entry("v00000.png", 1, 1, None)], data[2999:3000] * 0 + 7)  # changed vector
            w.put([Entry("extra.png", 1, 1, None)], data[:1] + 0.01)  # new
            w.apply(remove=["v00001.png"])
            after = w.refresh_search(flat_max=1000)
        assert after is not None and after["built_at"] == info["built_at"] and after["ntotal"] == 3000
        assert idx.info()["search"]["dead"] == 0
        hits = {h.relpath for h in idx.search(data[1], k=20).hits}
        assert "v00001.png" not in hits and "extra.png" in {h.relpath for h in idx.search(data[0], k=3).hits}


def test_compressed_structure_when_memory_is_short(tmp_path: Path) -> None:
    data = clustered(3000, dim=64)
    with synthetic_index(tmp_path / "idx", data, flat_max=1000, memory_budget=200_000) as idx:
        info = idx.info()["search"]
        assert info["kind"] == "ivf-pq" and "PQ" in info["factory"]
        queries = data[:30] + 0.2
        found = [[int(h.relpath[1:6]) for h in idx.search(q, k=10).hits] for q in queries]
        truth = [brute(data, q, "cosine")[:10] for q in queries]
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)]) >= 0.8
        hit = idx.search(queries[0], k=1).hits[0]  # scores are exact (re-ranked from the stored vectors)
        v = data[int(hit.relpath[1:6])]
        assert hit.score == pytest.approx(
            float(v @ queries[0] / np.linalg.norm(v) / np.linalg.norm(queries[0])), abs=1e-5
        )


def test_query_kinds(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "photos"
    write_images(folder, [f"{i}.png" for i in range(6)])
    outside = tmp_path / "query.png"
    picture(3).save(outside)  # the same picture as 3.png
    index_folder(folder, embedder)
    with Index.open(folder / ".lookalike") as idx:
        by_path = idx.search(folder / "3.png", k=3)
        assert by_path.query_kind == "indexed" and "3.png" not in {h.relpath for h in by_path.hits}
        with_self = idx.search("3.png", k=3, include_self=True)  # the stored path works too
        assert with_self.hits[0].relpath == "3.png" and with_self.hits[0].score == pytest.approx(
            1.0, abs=1e-5
        )
        by_file = idx.search(outside, k=1)
        assert by_file.query_kind == "file" and by_file.hits[0].relpath == "3.png"
        by_image = idx.search(picture(3), k=1)
        assert by_image.query_kind == "image" and by_image.hits[0].relpath == "3.png"
        vec = embedder.embed([outside])[0]
        by_vector = idx.search(vec, k=6)
        assert by_vector.query_kind == "vector" and by_vector.hits[0].relpath == "3.png"
        with pytest.raises(StoreError, match="no such image file, and not a path indexed"):
            idx.search(tmp_path / "nope.png")
        with pytest.raises(StoreError, match="must have 512 values"):
            idx.search(np.zeros(3))
        with pytest.raises(StoreError, match="unknown metric 'hamming'"):
            idx.search(vec, metric="hamming")


def test_queries_need_reproducible_weights_or_the_indexs_own_model(
    tmp_path: Path, random_embedder: Embedder
) -> None:
    folder = tmp_path / "photos"
    write_images(folder, ["a.png", "b.png"])
    assert random_embedder.backend == "onnx"
    index_folder(folder, random_embedder)  # keeps its exported model: random weights live on in it
    with Index.open(folder / ".lookalike") as idx:
        assert idx.search("a.png", k=1).hits[0].relpath == "b.png"  # stored vectors need no model
        assert idx.search(picture(0), k=1).query_kind == "image"
        assert idx.info()["backend"] == "onnx" and idx.info()["model_file"] > 0
    (folder / ".lookalike" / "model.onnx").unlink()
    with Index.open(folder / ".lookalike") as idx, pytest.raises(StoreError, match="random weights"):
        idx.search(picture(0))


def test_missing_search_file_is_rebuilt_from_rows(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "photos"
    write_images(folder, [f"{i}.png" for i in range(5)])
    index_folder(folder, embedder)
    location = folder / ".lookalike"
    with Index.open(location) as idx:
        expected = [h.relpath for h in idx.search("0.png", k=4).hits]
        (location / idx.meta()["search"]["file"]).write_bytes(b"garbage")
    with Index.open(location) as idx:
        assert [h.relpath for h in idx.search("0.png", k=4).hits] == expected


# ----------------------------------------------------------------------------------------------------------
# Contact sheets and the command line


def test_cli_index_search_info_and_contact_sheets(tmp_path: Path, weights: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, [f"cat {i}.png" for i in range(5)] + ["<dog>&.png"])
    code, out = invoke("index", folder, "--weights", weights, "--size", str(SIZE))
    assert code == 0, out
    assert "created" in out and "new 6" in out and "images/s" in out and "Flat" in out
    (folder / "cat 5.png").write_bytes((folder / "cat 4.png").read_bytes())
    code, out = invoke("index", folder)  # an update: the index's own weights and size
    assert code == 0, out
    assert "updated" in out and "new 1" in out and "unchanged 6" in out
    (folder / "cat 5.png").unlink()
    code, out = invoke("index", folder)
    assert code == 0 and "removed 1" in out, out
    html, png = tmp_path / "out" / "sheet.html", tmp_path / "sheet.png"
    code, out = invoke("search", folder / "cat 0.png", "-k", "5", "--html", html, "--png", png)
    assert code == 0, out
    assert "Rank" in out and "cosine ↑" in out and "Path" in out
    page = html.read_text()
    assert page.count("data:image/jpeg;base64,") == 6  # the query and five hits, embedded
    assert "http" not in page and 'src="/' not in page  # nothing to fetch: works offline
    code, data = invoke_json("search", folder / "cat 0.png", "-k", "5")
    hits = data["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5] and "cat 0.png" not in [h["relpath"] for h in hits]
    for h in hits:
        assert f"#{h['rank']} · {h['score']:.4f}" in page
    assert "&lt;dog&gt;&amp;.png" in page and "<dog>" not in page
    with Image.open(png) as img:
        assert img.format == "PNG" and img.width > 400
    code, data = invoke_json("search", folder / "cat 1.png", "--metric", "ncc", "-k", "2")
    assert data["metric"] == "ncc" and data["candidates"] == 100 and len(data["hits"]) == 2
    code, out = invoke("info", folder)
    assert code == 0 and "6 searchable" in out and "resnet18" in out and "Flat" in out and "On disk" in out
    code, info = invoke_json("info", folder / ".lookalike")
    assert info["images"] == 6 and info["dim"] == 512 and info["search"]["kind"] == "flat"
    assert info["preprocessing"]["crop_size"] == SIZE and info["disk_bytes"]["total"] > 0


def test_cli_clear_errors(tmp_path: Path, weights: Path) -> None:
    picture(0).save(tmp_path / "q.png")
    code, out = invoke("search", tmp_path / "q.png")
    assert code == 1 and "no lookalike index" in out and "--index DIR" in out and "Traceback" not in out
    code, out = invoke("info", tmp_path)
    assert code == 1 and "no lookalike index" in out
    code, out = invoke("index", tmp_path / "missing", "--weights", weights)
    assert code == 1 and "no such folder" in out
    write_images(tmp_path / "p", ["a.png"])
    invoke("index", tmp_path / "p", "--weights", weights, "--size", str(SIZE))
    code, out = invoke("index", tmp_path / "p", "--weights", weights, "--size", "24")
    assert code == 1 and "--rebuild" in out and len(out.strip().splitlines()) == 1
    code, out = invoke("search", tmp_path / "p" / "a.png", "--metric", "hamming")
    assert code == 1 and "unknown metric" in out


@pytest.mark.parametrize("command", ["index", "search", "info"])
def test_cli_help_has_an_example(command: str) -> None:
    code, out = invoke(command, "--help")
    assert code == 0 and "Example" in out


# ----------------------------------------------------------------------------------------------------------
# kill -9


CHILD = r"""
import os, signal, sys
import lookalike.index as index
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
    flush = index.Writer.flush
    def patched(self):
        had = bool(self._rows)
        flush(self)
        calls.append(had)
        if sum(calls) == nth:
            die()
    index.Writer.flush = patched
elif mode == "removals-committed":  # deletions, renames and touches committed, nothing embedded yet
    apply = index.Writer.apply
    def patched(self, **kwargs):
        apply(self, **kwargs)
        die()
    index.Writer.apply = patched
elif mode == "search-written":  # the new search structure is on disk, the meta table not pointed at it
    def patched(self, *args, **kwargs):
        die()
    index.Writer._point_search = patched
elif mode == "compacting":  # the compacted vectors file is written and fsynced, not yet committed
    writer._COMPACT_MIN, writer._COMPACT_DEAD = 0, 0.0
    compact = index.Writer.compact
    def patched(self):
        store.Store.transaction = lambda self: die()
        return compact(self)
    index.Writer.compact = patched
index.index_folder(folder, PixelEmbedder(), location=location)
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
        "import sys, time, lookalike.collection.writer as w; w._FLUSH_ROWS = 4; from lookalike.cli import main; "
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
# Reuse of stored vectors (lookalike dedup --weights)


def test_current_vectors_only_for_unchanged_files_and_the_same_model(
    tmp_path: Path, embedder: Embedder, random_embedder: Embedder
) -> None:
    folder = tmp_path / "photos"
    paths = write_images(folder, [f"{i}.png" for i in range(4)])
    index_folder(folder, embedder)
    with Index.open(folder / ".lookalike") as idx:
        stored = idx.current_vectors(paths, embedder)
        assert stored is not None and stored.shape == (4, 512)
        fresh = embedder.embed(paths).numpy()
        np.testing.assert_allclose(stored, fresh, rtol=1e-4, atol=1e-5)
        assert idx.current_vectors(paths, random_embedder) is None  # other weights
        assert idx.current_vectors([*paths, tmp_path / "elsewhere.png"], embedder) is None  # not indexed
    (folder / "empty.jpg").write_bytes(b"")  # unreadable: indexed as failed, a zero row
    index_folder(folder, embedder)
    with Index.open(folder / ".lookalike") as idx:
        with_failed = idx.current_vectors([*paths, folder / "empty.jpg"], embedder)
        assert with_failed is not None and with_failed.shape == (5, 512)
        np.testing.assert_array_equal(with_failed[:4], stored)
        assert not with_failed[4].any()
        picture(9).save(paths[2])  # changed since indexing
        os.utime(paths[2], ns=(1, 1))
        assert idx.current_vectors(paths, embedder) is None


def test_cli_dedup_reuses_an_up_to_date_index(tmp_path: Path, weights: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, [f"{i}.png" for i in range(5)])
    (folder / "copy.png").write_bytes((folder / "3.png").read_bytes())
    code, out = invoke("index", folder, "--weights", weights)
    assert code == 0, out

    def dedup() -> tuple[str, list[set[str]]]:
        result = runner.invoke(app, ["dedup", str(folder), "--weights", str(weights), "--json", "-"])
        assert result.exit_code == 0, result.output
        groups = json.loads(result.stdout)["groups"]
        return result.output, [{Path(m["path"]).name for m in g["members"]} for g in groups]

    out, groups = dedup()
    assert "feature vectors from" in out and groups == [{"3.png", "copy.png"}]
    picture(7).save(folder / "4.png")  # the index is now behind: embed instead
    out, groups = dedup()
    assert "feature vectors from" not in out and groups == [{"3.png", "copy.png"}]
