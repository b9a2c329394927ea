"""Search structures (lookalike.collection.ann): the structure against its memory estimate, nprobe tuning,
score accuracy, re-ranking, save and load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from lookalike.collection import ann
from lookalike.collection.plan import choose_structure


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(4, n // 50), dim)) * 3
    x = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, dim))
    return (x + 4).astype(np.float32)  # positive, like features after a ReLU, with varied norms


def test_the_estimate_matches_what_faiss_holds(tmp_path: Path) -> None:
    import faiss

    data = clustered(3000, dim=32, seed=5)
    plan = choose_structure(len(data), 32, flat_max=1000, memory_budget=1 << 20)
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
    s = ann.build(choose_structure(len(data), 32, flat_max=100), source)
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
    s = ann.build(choose_structure(len(data), 32, flat_max=1000), ann.ArraySource(data))
    assert s.plan.kind == "ivf-sq"
    queries = ann.unit(data[:20] + 0.3)
    scores, ids = s.search(queries, 10)
    exact = np.einsum("qkd,qd->qk", ann.unit(data)[ids], queries)
    np.testing.assert_allclose(scores, exact, atol=1e-4)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_ivf_pq_candidates_are_reranked_exactly() -> None:
    data = clustered(3000, dim=64, seed=2)
    plan = choose_structure(len(data), 64, flat_max=1000, memory_budget=200_000)
    s = ann.build(plan, ann.ArraySource(data))
    assert plan.kind == "ivf-pq" and s.refine is not None
    q = ann.unit(data[7:8] + 0.2)
    scores, ids = s.search(q, 5)
    np.testing.assert_allclose(scores[0], ann.unit(data)[ids[0]] @ q[0], atol=1e-5)


def test_flat_search_is_exact_and_pads_with_minus_one() -> None:
    data = clustered(30, seed=1)
    s = ann.build(choose_structure(len(data), 32), ann.ArraySource(data))
    q = ann.unit(data[:3])
    scores, ids = s.search(q, 40)
    _, truth = ann.exact_search(ann.ArraySource(data), q, 30)
    np.testing.assert_array_equal(ids[:, :30], truth)
    assert np.all(ids[:, 30:] == -1) and np.all(np.isneginf(scores[:, 30:]))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = clustered(2000, seed=6)
    s = ann.build(choose_structure(len(data), 32, flat_max=500), ann.ArraySource(data))
    path = s.save(tmp_path / "s.faiss")
    loaded = ann.Structure.load(path, s.describe())
    assert loaded.nprobe == s.nprobe and loaded.plan == s.plan and not path.with_name("s.faiss.tmp").exists()
    q = ann.unit(data[:5])
    np.testing.assert_array_equal(loaded.search(q, 10)[1], s.search(q, 10)[1])


def test_unit_leaves_zero_rows_at_zero() -> None:
    x = ann.unit(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]])


def test_the_plan_is_still_given_under_its_old_path() -> None:
    from lookalike.collection import plan

    assert set(plan.__all__) <= set(ann.__all__)
    for name in (*plan.__all__, "MEMORY_ENV", "chunk_rows", "ivf_lists", "parse_bytes"):
        assert getattr(ann, name) is getattr(plan, name), name
