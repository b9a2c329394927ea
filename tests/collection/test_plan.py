"""Which search structure fits (lookalike.collection.plan): the size/memory rule, the memory estimate, a
memory budget read from text."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.collection.plan import choose_structure, ivf_lists, memory_estimate, parse_bytes
from lookalike.errors import StoreError


def test_choose_structure_rule() -> None:
    assert choose_structure(49_999, 512).kind == "flat"
    assert choose_structure(50_000, 512, memory_budget=1 << 34).factory == f"IVF{ivf_lists(50_000)},SQfp16"
    assert ivf_lists(1_000_000) == 4096 and ivf_lists(100) == 256 and ivf_lists(10**12) == 65_536
    small = choose_structure(1_000_000, 512, memory_budget=1 << 30)
    assert small.kind == "ivf-pq" and small.build_bytes <= 1 << 30 and small.bytes < small.build_bytes
    assert choose_structure(60_000, 512, memory_budget=1 << 20).reason.endswith(
        "even the smallest codes exceed it"
    )


def test_memory_estimate_counts_the_table_the_growth_and_the_build() -> None:
    n, dim, nlist, m = 1_000_000, 512, 4096, 256
    with_table = memory_estimate("ivf-pq", n, dim, nlist=nlist, pq_bytes=m, precomputed_table=True)
    without = memory_estimate("ivf-pq", n, dim, nlist=nlist, pq_bytes=m)
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
    sq = memory_estimate("ivf-sq", n, dim, nlist=nlist)
    assert sq["codes"] == n * 2 * dim and sq["codebook"] == sq["table"] == 0
    # the case: at 1M vectors PQ256 with its table takes as much as float16 vectors
    assert with_table["peak"] > 0.95 * sq["peak"]


def test_a_tight_budget_moves_to_a_smaller_plan() -> None:
    n, dim = 3_000_000, 512
    sq = choose_structure(n, dim, memory_budget=1 << 40)
    assert sq.kind == "ivf-sq" and sq.build_bytes == sq.memory()["peak"]
    assert choose_structure(n, dim, memory_budget=sq.build_bytes).kind == "ivf-sq"
    budget, seen = sq.build_bytes - 1, []
    while True:
        plan = choose_structure(n, dim, memory_budget=budget)
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


@pytest.mark.parametrize(("text", "value"), [("1.5G", 1610612736), ("512MiB", 512 << 20), ("1000", 1000)])
def test_parse_bytes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


def test_parse_bytes_rejects_nonsense() -> None:
    with pytest.raises(StoreError, match="lots"):
        parse_bytes("lots")
