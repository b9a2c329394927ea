"""Search structures (lookalike.collection.ann): the size/memory rule, nprobe tuning, score accuracy,
re-ranking, save and load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from lookalike.collection import ann
from lookalike.errors import StoreError


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(4, n // 50), dim)) * 3
    x = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, dim))
    return (x + 4).astype(np.float32)  # positive, like features after a ReLU, with varied norms


def test_choose_structure_rule() -> None:
    assert ann.choose_structure(49_999, 512).kind == "flat"
    assert (
        ann.choose_structure(50_000, 512, memory_budget=1 << 34).factory
        == f"IVF{ann.ivf_lists(50_000)},SQfp16"
    )
    assert ann.ivf_lists(1_000_000) == 4096 and ann.ivf_lists(100) == 256 and ann.ivf_lists(10**12) == 65_536
    small = ann.choose_structure(1_000_000, 512, memory_budget=1 << 30)
    assert small.kind == "ivf-pq" and small.build_bytes <= 1 << 30 and small.bytes < small.build_bytes
    assert ann.choose_structure(60_000, 512, memory_budget=1 << 20).reason.endswith(
        "even the smallest codes exceed it"
    )


def test_memory_estimate_counts_the_table_the_growth_and_the_build() -> None:
    n, dim, nlist, m = 1_000_000, 512, 4096, 256
    with_table = ann.memory_estimate("ivf-pq", n, dim, nlist=nlist, pq_bytes=m, precomputed_table=True)
    without = ann.memory_estimate("ivf-pq", n, dim, nlist=nlist, pq_bytes=m)
    assert with_table["table"] == nlist * m * 256 * 4 == 1 << 30 and without["table"] == 0
    assert with_table["codes"] == n * m and with_table["ids"] == n * 8
    assert with_table["centroids"] == nlist * dim * 4 and with_table["codebook"] == dim * 256 * 4
    # lists grown by doubling hold 1/ln 2 of their entries on average
    assert with_table["growth"] == pytest.approx((n * m + n * 8) * (1 / np.log(2) - 1), abs=1)
    held = sum(with_table[k] for k in ("codes", "ids", "centroids", "codebook", "table"))
    assert with_table["loaded"] == held and with_table["bytes"] == held + with_table["growth"]
    # training holds 40 × nlist sampled vectors, and faiss's 65,536-row subsample and its residuals
    assert with_table["train_sample"] == 40 * nlist * dim * 4
    assert with_table["train_scratch"] >= 2 * 65_536 * dim * 4
    phases = (with_table[k] for k in ("train_peak", "add_peak", "tune_peak"))
    assert with_table["peak"] == max(phases) > with_table["bytes"]
    assert with_table["peak"] - without["peak"] == 1 << 30
    sq = ann.memory_estimate("ivf-sq", n, dim, nlist=nlist)
    assert sq["codes"] == n * 2 * dim and sq["codebook"] == sq["table"] == 0
    # the case: at 1M vectors PQ256 with its table takes as much as float16 vectors
    assert with_table["peak"] > 0.95 * sq["peak"]


def test_a_tight_budget_moves_to_a_smaller_plan() -> None:
    n, dim = 3_000_000, 512
    sq = ann.choose_structure(n, dim, memory_budget=1 << 40)
    assert sq.kind == "ivf-sq" and sq.build_bytes == sq.memory()["peak"]
    assert ann.choose_structure(n, dim, memory_budget=sq.build_bytes).kind == "ivf-sq"
    budget, seen = sq.build_bytes - 1, []
    while True:
        plan = ann.choose_structure(n, dim, memory_budget=budget)
        assert plan.kind == "ivf-pq" and plan.memory()["peak"] == plan.build_bytes
        if plan.reason.endswith("even the smallest codes exceed it"):
            assert plan.build_bytes > budget and plan.pq_bytes == 4 and not plan.precomputed_table
            break
        assert plan.build_bytes <= budget
        seen.append((plan.pq_bytes, plan.precomputed_table))
        budget = plan.build_bytes - 1
    # below float16's peak: smaller codes, never faiss's precomputed table (slower at these sizes); under
    # PQ128's peak the k-means sample (40 × 8192 vectors) sets the peak, and no codes fit
    assert seen == [(256, False), (128, False)]
    assert plan.memory()["train_peak"] == plan.build_bytes


def test_the_estimate_matches_what_faiss_holds(tmp_path: Path) -> None:
    import faiss

    data = clustered(3000, dim=32, seed=5)
    plan = ann.choose_structure(len(data), 32, flat_max=1000, memory_budget=1 << 20)
    plan = dataclasses.replace(plan, precomputed_table=True)  # the budget would not keep it
    assert plan.kind == "ivf-pq" and plan.nlist is not None and plan.pq_bytes is not None
    s = ann.build(plan, ann.ArraySource(data))
    mem = plan.memory()
    ivf = faiss.downcast_index(faiss.extract_index_ivf(s.index))
    sizes = [ivf.invlists.list_size(i) for i in range(plan.nlist)]
    assert sum(sizes) * ivf.code_size == mem["codes"] == len(data) * plan.pq_bytes
    assert sum(sizes) * 8 == mem["ids"]
    assert ivf.quantizer.ntotal * ivf.d * 4 == mem["centroids"]
    assert ivf.pq.centroids.size() * 4 == mem["codebook"]
    assert ivf.use_precomputed_table == 1 and ivf.precomputed_table.size() * 4 == mem["table"] > 0
    q = ann.unit(data[:20] + 0.1)
    found = s.search(q, 10)[1]

    path = s.save(tmp_path / "s.faiss")
    loaded = ann.Structure.load(path, s.describe())
    loaded.refine = s.refine
    again = faiss.downcast_index(faiss.extract_index_ivf(loaded.index))
    assert again.precomputed_table.size() * 4 == mem["table"]
    np.testing.assert_array_equal(loaded.search(q, 10)[1], found)
    # a plan without the table loads without it (faiss would make one) and finds the same neighbours
    lean = ann.Structure.load(path, {**s.describe(), "precomputed_table": False})
    lean.refine = s.refine
    bare = faiss.downcast_index(faiss.extract_index_ivf(lean.index))
    assert bare.precomputed_table.size() == 0 and bare.use_precomputed_table == -1
    np.testing.assert_array_equal(lean.search(q, 10)[1], found)


def test_build_tunes_nprobe_to_the_target(tmp_path: Path) -> None:
    data = clustered(4000, seed=3)
    source = ann.ArraySource(data)
    s = ann.build(ann.choose_structure(len(data), 32, flat_max=100), source)
    assert s.recall is not None and s.recall >= ann.TUNE_RECALL and s.nprobe is not None
    if s.nprobe > 1:  # one list fewer would miss the target
        s.set_nprobe(s.nprobe - 1)
        q = ann.unit(source.sample(256, seed=1)[1])
        _, truth = ann.exact_search(source, q, 11)
        _, found = s.search(q, 11)
        ids = source.sample(256, seed=1)[0]
        assert ann.recall_at(found, truth, 10, exclude=ids) < ann.TUNE_RECALL


def test_ivf_sq_scores_are_exact_cosines_without_reranking() -> None:
    data = clustered(3000, seed=4)
    s = ann.build(ann.choose_structure(len(data), 32, flat_max=1000), ann.ArraySource(data))
    assert s.plan.kind == "ivf-sq"
    queries = ann.unit(data[:20] + 0.3)
    scores, ids = s.search(queries, 10)
    exact = np.einsum("qkd,qd->qk", ann.unit(data)[ids], queries)
    np.testing.assert_allclose(scores, exact, atol=1e-4)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_ivf_pq_candidates_are_reranked_exactly() -> None:
    data = clustered(3000, dim=64, seed=2)
    plan = ann.choose_structure(len(data), 64, flat_max=1000, memory_budget=200_000)
    s = ann.build(plan, ann.ArraySource(data))
    assert plan.kind == "ivf-pq" and s.refine is not None
    q = ann.unit(data[7:8] + 0.2)
    scores, ids = s.search(q, 5)
    np.testing.assert_allclose(scores[0], ann.unit(data)[ids[0]] @ q[0], atol=1e-5)


def test_flat_search_is_exact_and_pads_with_minus_one() -> None:
    data = clustered(30, seed=1)
    s = ann.build(ann.choose_structure(len(data), 32), ann.ArraySource(data))
    q = ann.unit(data[:3])
    scores, ids = s.search(q, 40)
    _, truth = ann.exact_search(ann.ArraySource(data), q, 30)
    np.testing.assert_array_equal(ids[:, :30], truth)
    assert np.all(ids[:, 30:] == -1) and np.all(np.isneginf(scores[:, 30:]))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = clustered(2000, seed=6)
    s = ann.build(ann.choose_structure(len(data), 32, flat_max=500), ann.ArraySource(data))
    path = s.save(tmp_path / "s.faiss")
    loaded = ann.Structure.load(path, s.describe())
    assert loaded.nprobe == s.nprobe and loaded.plan == s.plan and not path.with_name("s.faiss.tmp").exists()
    q = ann.unit(data[:5])
    np.testing.assert_array_equal(loaded.search(q, 10)[1], s.search(q, 10)[1])


def test_unit_leaves_zero_rows_at_zero() -> None:
    x = ann.unit(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.parametrize(("text", "value"), [("1.5G", 1610612736), ("512MiB", 512 << 20), ("1000", 1000)])
def test_parse_bytes(text: str, value: int) -> None:
    assert ann.parse_bytes(text) == value


def test_parse_bytes_rejects_nonsense() -> None:
    with pytest.raises(StoreError, match="lots"):
        ann.parse_bytes("lots")
