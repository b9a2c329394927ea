"""Search at scale (issue 4): approximate vs exact search on 1,000,000 clustered 512-d vectors.

Targets, on a 2-core CPU, measured in the same run:

* recall@10 ≥ 0.95 against exact search, at ≥ 10× exact search's queries per second;
* build time and peak memory (RSS) reported;
* the store (``lookalike.collection``) stays within memory at 1M vectors: written through ``Index.writer()``
  and its search structure built in a fresh process, then opened and searched in another; the peak RSS
  (VmHWM) of each is reported.

The vectors imitate image features: 100 broad groups ("classes") of 100 clusters each (10,000 Gaussian
clusters), cluster sizes log-normal (some common, some rare), every vector sharing a common mean direction
(features after a ReLU all point into one orthant), and a per-cluster spread drawn from U(0.4, 0.8) that is
larger than the distance between sibling clusters, so that clusters overlap: about a third of a query's
true top-10 lie outside its own cluster. Queries are fresh draws from the same mixture, not vectors of the
collection. The script prints these neighbour statistics so a reader can judge the difficulty.

Both sides run the product's code: the structure comes from ``lookalike.collection.plan.choose_structure`` and
``build`` exactly as ``lookalike index`` makes it (including the automatic ``nprobe`` tuning); exact search
is the same module's ``Flat`` structure. Queries per second are measured twice: all queries in one call
(batched, where exact search uses BLAS) and one query per call.

Usage::

    python benchmarks/search.py                      # 1M vectors: search, then the store
    python benchmarks/search.py --n 200000 --no-store # quicker
    python benchmarks/search.py --out search.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lookalike.collection.ann import ArraySource, Structure, build, unit
from lookalike.collection.plan import choose_structure, default_memory_budget
from rss import status_kib

DIM = 512
GROUPS = 100
CLUSTERS_PER_GROUP = 100
SPREAD = (0.4, 0.8)
K = 10


@dataclass
class Mixture:
    """The Gaussian mixture the vectors are drawn from."""

    centres: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float64]
    spread: npt.NDArray[np.float32]

    @classmethod
    def make(cls, dim: int = DIM, seed: int = 0) -> Mixture:
        rng = np.random.default_rng(seed)

        def directions(n: int) -> npt.NDArray[np.float32]:
            x = rng.standard_normal((n, dim), dtype=np.float32)
            return x / np.linalg.norm(x, axis=1, keepdims=True)

        common = directions(1)
        groups = directions(GROUPS)
        clusters = GROUPS * CLUSTERS_PER_GROUP
        parent = np.repeat(np.arange(GROUPS), CLUSTERS_PER_GROUP)
        centres = (1.0 * common + 0.8 * groups[parent] + 0.35 * directions(clusters)).astype(np.float32)
        sizes = rng.lognormal(0.0, 1.0, clusters)
        spread = rng.uniform(*SPREAD, clusters).astype(np.float32)
        return cls(centres, sizes / sizes.sum(), spread)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        labels = rng.choice(len(self.centres), n, p=self.weights)
        dim = self.centres.shape[1]
        noise = rng.standard_normal((n, dim), dtype=np.float32) * (self.spread[labels, None] / np.sqrt(dim))
        return (self.centres[labels] + noise).astype(np.float32), labels


def peak_rss_gib() -> float:
    """The peak resident set since exec (VmHWM) in GiB."""
    return status_kib("VmHWM") / (1 << 20)


def current_rss_gib() -> float:
    return status_kib("VmRSS") / (1 << 20)


def qps(structure: Structure, queries: npt.NDArray[np.float32], k: int, *, single: bool) -> tuple[float, Any]:
    """Queries per second (best of 3 for batched, one pass for single) and the last result ids."""
    if single:
        start = time.perf_counter()
        ids = np.vstack([structure.search(q[None, :], k)[1] for q in queries])
        return len(queries) / (time.perf_counter() - start), ids
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        _, ids = structure.search(queries, k)
        best = min(best, time.perf_counter() - start)
    return len(queries) / best, ids


def recall(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def bench_search(n: int, n_queries: int, seed: int) -> dict[str, Any]:
    mix = Mixture.make(seed=seed)
    rng = np.random.default_rng(seed + 1)
    start = time.perf_counter()
    data = np.empty((n, DIM), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    for s in range(0, n, 100_000):
        data[s : s + 100_000], labels[s : s + 100_000] = mix.draw(min(100_000, n - s), rng)
    queries_raw, query_labels = mix.draw(n_queries, np.random.default_rng(seed + 2))
    queries = unit(queries_raw)
    print(f"data: {n:,} × {DIM} in {time.perf_counter() - start:.1f} s, RSS {current_rss_gib():.2f} GiB")
    source = ArraySource(data)
    rss_data = current_rss_gib()

    plan = choose_structure(n, DIM)
    print(
        f"plan: {plan.factory} — {plan.reason} (memory budget {default_memory_budget() / (1 << 30):.1f} GiB)"
    )
    start = time.perf_counter()
    ann = build(plan, source, seed=seed)
    build_s = time.perf_counter() - start
    rss_ann = current_rss_gib()
    print(
        f"built {plan.factory} in {build_s:.1f} s: nprobe {ann.nprobe}, tuned recall@10 {ann.recall:.4f}, "
        f"+{rss_ann - rss_data:.2f} GiB"
    )

    exact_plan = choose_structure(n, DIM, flat_max=n + 1)
    start = time.perf_counter()
    exact = build(exact_plan, source)
    exact_build_s = time.perf_counter() - start
    print(f"built exact Flat in {exact_build_s:.1f} s")

    out: dict[str, Any] = {}
    for mode, single in (("batched", False), ("single", True)):
        nq = n_queries if not single else min(n_queries, 200)
        q = queries[:nq]
        exact_qps, truth = qps(exact, q, K, single=single)
        ann_qps, found = qps(ann, q, K, single=single)
        r = recall(found, truth)
        out[mode] = {
            "queries": nq,
            "exact_qps": round(exact_qps, 1),
            "ann_qps": round(ann_qps, 1),
            "speedup": round(ann_qps / exact_qps, 1),
            "recall_at_10": round(r, 4),
        }
        print(
            f"{mode:8} {nq:5} queries: exact {exact_qps:8.1f} q/s · {plan.factory} {ann_qps:8.1f} q/s "
            f"({ann_qps / exact_qps:.1f}×) · recall@10 {r:.4f}"
        )

    # how clustered the data is: neighbour similarities, and where the true neighbours come from
    scores, truth = exact.search(queries, K)
    rand = rng.choice(n, (2000, 2))
    random_cos = float(np.mean(np.sum(unit(data[rand[:, 0]]) * unit(data[rand[:, 1]]), axis=1)))
    same_cluster = float(np.mean(labels[truth] == query_labels[:, None]))
    stats = {
        "top1_cosine": round(float(scores[:, 0].mean()), 4),
        "top10_cosine": round(float(scores[:, K - 1].mean()), 4),
        "random_pair_cosine": round(random_cos, 4),
        "true_top10_in_query_cluster": round(same_cluster, 3),
    }
    print(f"data: {stats}")
    return {
        "n": n,
        "dim": DIM,
        "clusters": GROUPS * CLUSTERS_PER_GROUP,
        "plan": plan.to_dict(),
        "nprobe": ann.nprobe,
        "tuned_recall_at_10": ann.recall,
        "build_seconds": round(build_s, 1),
        "exact_build_seconds": round(exact_build_s, 1),
        "structure_rss_gib": round(rss_ann - rss_data, 2),
        "peak_rss_gib": round(peak_rss_gib(), 2),
        "data_stats": stats,
        **out,
    }


def bench_store(n: int, seed: int, location: Path) -> dict[str, Any]:
    """Write ``n`` synthetic vectors through the store's writer and build its search structure, as
    ``lookalike index`` does after embedding (run in a fresh process: its peak RSS is the store's)."""
    from lookalike.collection import Entry, Index

    mix = Mixture.make(seed=seed)
    rng = np.random.default_rng(seed + 3)
    meta = {"model": "synthetic", "cifar_stem": False, "weights": "synthetic", "fingerprint": "synthetic",
            "dim": DIM, "crop_size": 0, "resize_size": 0, "mean": [0, 0, 0], "std": [1, 1, 1],
            "interpolation": "none", "precision": "float32"}  # fmt: skip
    start = time.perf_counter()
    with Index.create(location, root=location.parent, embedder=meta) as idx, idx.writer() as w:
        chunk = 10_000
        for s in range(0, n, chunk):
            vectors, _ = mix.draw(min(chunk, n - s), rng)
            entries = [
                Entry(f"img/{i:07d}.jpg", 1000 + i, i, f"{i:064x}") for i in range(s, s + len(vectors))
            ]
            w.put(entries, vectors)
        w.flush()
        write_s = time.perf_counter() - start
        rss_write = peak_rss_gib()
        start = time.perf_counter()
        search = w.refresh_search()
        build_s = time.perf_counter() - start
    assert search is not None
    return {
        "n": n,
        "write_seconds": round(write_s, 1),
        "rows_per_s": round(n / write_s),
        "peak_rss_writing_gib": round(rss_write, 2),
        "search_structure": search["factory"],
        "nprobe": search["nprobe"],
        "build_seconds": round(build_s, 1),
        "peak_rss_gib": round(peak_rss_gib(), 2),
    }


def bench_open(seed: int, location: Path) -> dict[str, Any]:
    """Open the store in a fresh process and search it once, as ``lookalike search`` does."""
    from lookalike.collection import Index

    mix = Mixture.make(seed=seed)
    query, _ = mix.draw(1, np.random.default_rng(seed + 4))
    start = time.perf_counter()
    with Index.open(location) as idx:
        result = idx.search(query[0], k=K)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(20):
            idx.search(query[0], k=K)
        later_ms = (time.perf_counter() - start) / 20 * 1000
        assert len(result.hits) == K
        return {
            "images": idx.count,
            "open_and_first_search_seconds": round(first_s, 2),
            "later_search_ms": round(later_ms, 1),
            "peak_rss_gib": round(peak_rss_gib(), 2),
            "disk_bytes": idx.info()["disk_bytes"],
        }


def child(*args: str) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh process (its own peak RSS) and return its JSON line."""
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors in the collection")
    parser.add_argument("--queries", type=int, default=1000, help="queries (single-query mode uses 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-store", action="store_true", help="skip the store measurement")
    parser.add_argument("--child", choices=["store", "open"], help=argparse.SUPPRESS)
    parser.add_argument("--location", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    if args.child == "store":
        print(json.dumps(bench_store(args.n, args.seed, args.location)))
        return
    if args.child == "open":
        print(json.dumps(bench_open(args.seed, args.location)))
        return
    started = time.perf_counter()
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "faiss_threads": __import__("faiss").omp_get_max_threads(),
        "search": bench_search(args.n, args.queries, args.seed),
    }
    if not args.no_store:
        with tempfile.TemporaryDirectory(prefix="lookalike-store-") as tmp:
            location = Path(tmp) / ".lookalike"
            common = ["--n", str(args.n), "--seed", str(args.seed), "--location", str(location)]
            print("store: writing through Index.writer() in a fresh process …", flush=True)
            result["store"] = child("--child", "store", *common)
            print(f"store: {result['store']}", flush=True)
            result["store_open"] = child("--child", "open", *common)
            print(f"opened in a fresh process: {result['store_open']}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    s = result["search"]["batched"]
    ok = s["recall_at_10"] >= 0.95 and s["speedup"] >= 10
    result["targets_met_batched"] = ok
    t = result["search"]["single"]
    result["targets_met_single"] = t["recall_at_10"] >= 0.95 and t["speedup"] >= 10
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
