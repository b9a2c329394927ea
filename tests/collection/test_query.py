"""Search (lookalike.collection.query): exact and approximate structures, re-ranking, batches, dead
vectors, query kinds, and a search structure rebuilt from the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from collection.index_support import (
    SIZE,
    picture,
    write_images,
)
from lookalike.collection import Entry, Index, index_folder
from lookalike.collection.plan import ivf_lists
from lookalike.errors import StoreError
from lookalike.features import Embedder

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


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_queries_need_reproducible_weights_or_the_indexs_own_model(tmp_path: Path, backend: Any) -> None:
    """Random weights live on only in the index's exported model, which a build through either backend
    leaves behind (PyTorch's, bf16 on CPUs that compute it in hardware, exports it once at the end)."""
    folder = tmp_path / "photos"
    write_images(folder, ["a.png", "b.png"])
    random_embedder = Embedder(
        "none", model="resnet18", size=SIZE, num_workers=0, device="cpu", backend=backend
    )
    index_folder(folder, random_embedder)  # keeps its exported model: random weights live on in it
    with Index.open(folder / ".lookalike") as idx:
        assert idx.search("a.png", k=1).hits[0].relpath == "b.png"  # stored vectors need no model
        assert idx.search(picture(0), k=1).query_kind == "image"
        assert idx.query_backend == "onnx"  # the query ran on the index's own model
        assert idx.info()["backend"] == backend and idx.info()["model_file"] > 0
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
