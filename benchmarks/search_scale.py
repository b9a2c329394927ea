"""Search at the scale clusters produce (issue 12, part 3): IVF-PQ built in chunks from a vectors file.

Purpose: show that the structure ``choose_structure`` picks for 10 million 512-d vectors when float
vectors do not fit the memory budget — ``IVF{nlist},PQ{m}`` whose candidates are re-ranked exactly from
the stored vectors — is built from the vectors file chunk by chunk, without holding the vectors in memory,
and measure its build time, memory and recall@10 against exact search.

Method:

* vectors: the Gaussian mixture of ``benchmarks/search.py`` (``Mixture``: 100 groups × 100 clusters,
  log-normal cluster sizes, overlapping clusters; same seed, so the first 1M vectors equal that script's),
  written 100,000 at a time to a raw float32 file in the store's layout (``vectors-*.f32``: ``dim``
  floats per row, no header);
* the build reads that file through the product's own store path: ``StoreSource``
  (:mod:`lookalike.collection.structure`: sequential chunks, one sequential pass to draw the k-means
  sample) over a minimal stand-in for the store whose ``read_vectors`` *is* ``Store.read_vectors`` (``pread``
  of the rows re-ranking asks for). Nothing here loads the file;
* the memory budget is forced so that float16 vectors do not fit: ``--memory`` is the budget for 10M
  vectors (default 4 GiB, where ``IVF16384,PQ256`` fits and ``SQfp16`` does not); a smaller ``n`` gets
  the budget that just fits the same codes without faiss's precomputed table (the build's peak that
  ``memory_estimate`` gives them) — so every size gets the same code size as 10M would (``nlist``
  follows ``n``, as the chooser does);
* the build runs in a fresh process (its peak RSS is the build's): ``choose_structure`` + ``build``
  exactly as ``lookalike index`` calls them, with ``nprobe`` tuned to recall@10 ≥ 0.97. Train / add / tune
  seconds are split by ``build``'s progress callback (first call: training and one chunk done; last call:
  every vector added). Peak RSS: ``ru_maxrss``, and RSS (anonymous and file-backed) sampled every 50 ms in
  a thread; structure size: the saved FAISS file;
* recall@10 of 1,000 held-out queries (fresh draws from the mixture) against exact float32 brute force
  over the same file in chunks (``exact_search``), with the product's re-ranking (10·k candidates
  re-scored from the file) and without it (PQ scores), at the tuned ``nprobe``, half and twice it;
  queries/s batched (best of 3) and one query per call (200 queries);
* ``--probe`` times the quantiser assignment (exhaustive L2 against ``nlist`` centres, what k-means
  iterations and adding cost per vector) at 4,096 and 16,384 lists: the basis for extrapolating to 10M.

Usage::

    python benchmarks/search_scale.py --sizes 20000 --queries 200          # a quick check
    python benchmarks/search_scale.py --sizes 1000000 2000000 --probe --out scale.json
    python benchmarks/search_scale.py --sizes 1000000 --memory 1G          # 10M budget 1 GiB: PQ64

Temporary vectors files go to ``--dir`` (default: the system's temporary folder) and are removed after
each size.

Measured (2-core AMD EPYC, AVX-512, 24 GB, faiss-cpu 1.15.1, 2 threads; benchmarks/RESULTS.md, "Search at
10M vectors"): ``IVF4096,PQ256`` over 1M vectors built in 130.9 s (train 75.5 / add 42.0 / tune 13.4, load
average 2) at a peak RSS of 1.91 GiB while reading a 2.05 GB vectors file (2M: 266.3 s, 2.22 GiB for
4.10 GB — +0.31 GiB per million vectors: the build is chunked); held-out recall@10 0.9725 re-ranked
(0.846 on PQ scores alone) at nprobe 12, 634 q/s batched and 276 one by one. 10M (``IVF16384,PQ256``) was
not run: extrapolated to about 33 min of build on two quiet cores, ≈ 3.7 GiB peak RSS and a 2.68 GB
structure, recall ≈ 0.97 at the tuned nprobe (basis in RESULTS.md). faiss adds a precomputed table of
nlist × m × 1 KiB (1 GiB at 1M, none at 10M) that ``choose_structure`` did not count then (it does
since issue 23, and keeps the table only when it fits: ``benchmarks/search_memory.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hardware import cpu_info, print_result
from lookalike.collection.ann import Structure, build, exact_search, recall_at, unit
from lookalike.collection.plan import Plan, choose_structure, ivf_lists, memory_estimate, parse_bytes
from lookalike.collection.store import Store
from lookalike.collection.structure import StoreSource
from rss import RssSampler, status_kib
from search import DIM, K, Mixture

TEN_M = 10_000_000
WRITE_CHUNK = 100_000
VECTORS_NAME = "vectors-bench.f32"


# ----------------------------------------------------------------------------------------------------------
# The vectors file


def write_vectors(path: Path, n: int, seed: int) -> float:
    """Write ``n`` mixture vectors to ``path`` (raw float32 rows), a chunk at a time; returns seconds."""
    mix = Mixture.make(seed=seed)
    rng = np.random.default_rng(seed + 1)  # as benchmarks/search.py draws its collection
    start = time.perf_counter()
    with path.open("wb") as f:
        for s in range(0, n, WRITE_CHUNK):
            vectors, _ = mix.draw(min(WRITE_CHUNK, n - s), rng)
            vectors.tofile(f)
    return time.perf_counter() - start


def held_out_queries(n_queries: int, seed: int) -> npt.NDArray[np.float32]:
    """Fresh draws from the same mixture (not vectors of the collection), unit length."""
    vectors, _ = Mixture.make(seed=seed).draw(n_queries, np.random.default_rng(seed + 2))
    return unit(vectors)


class FileStore:
    """What :class:`StoreSource` needs of a :class:`Store`, over a bare vectors file: every row live.

    ``read_vectors`` is the store's own (``pread`` of runs of consecutive rows), so re-ranking reads the
    file as ``lookalike search`` does.
    """

    read_vectors = Store.read_vectors

    def __init__(self, path: Path, dim: int) -> None:
        self.location = path.parent
        self.dim = dim
        self.count = path.stat().st_size // (4 * dim)
        self._fd = os.open(path, os.O_RDONLY)

    def meta(self) -> dict[str, Any]:
        return {"dim": self.dim, "vectors_file": VECTORS_NAME, "vectors_count": self.count}

    def live_vids(self, after: int = -1) -> npt.NDArray[np.int64]:
        return np.arange(after + 1, self.count, dtype=np.int64)

    def vectors_file(self) -> tuple[int, int, int]:
        return self._fd, self.count, self.dim


def file_source(path: Path) -> StoreSource:
    return StoreSource(FileStore(path, DIM))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------
# Memory


def gib(kib: float) -> float:
    return round(kib / (1 << 20), 3)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ----------------------------------------------------------------------------------------------------------
# Build and measure (in a fresh process)


def plan_for(n: int, memory_10m: int) -> Plan:
    """What the chooser picks for ``n`` vectors with a budget that fits the codes 10M gets from its own."""
    codes = choose_structure(TEN_M, DIM, memory_budget=memory_10m).pq_bytes
    if n >= TEN_M or codes is None:
        return choose_structure(n, DIM, memory_budget=int(memory_10m * n / TEN_M))
    budget = memory_estimate("ivf-pq", n, DIM, nlist=ivf_lists(n), pq_bytes=codes)["peak"]
    return choose_structure(n, DIM, memory_budget=budget)


def searched(
    structure: Structure, queries: npt.NDArray[np.float32], truth: npt.NDArray[np.int64], *, single: bool
) -> dict[str, float]:
    """Recall@10 and queries/s: all queries in one call (best of 3) or one per call (first 200)."""
    if single:
        q = queries[:200]
        start = time.perf_counter()
        found = np.vstack([structure.search(row[None, :], K)[1] for row in q])
        seconds = time.perf_counter() - start
    else:
        q, seconds = queries, float("inf")
        for _ in range(3):
            start = time.perf_counter()
            _, found = structure.search(q, K)
            seconds = min(seconds, time.perf_counter() - start)
    return {"qps": round(len(q) / seconds, 1), "recall_at_10": round(recall_at(found, truth[: len(q)], K), 4)}


def child_build(path: Path, n: int, memory_10m: int, truth_path: Path, seed: int) -> dict[str, Any]:
    rss_before = status_kib()
    source = file_source(path)
    assert len(source) == n, (len(source), n)
    plan = plan_for(n, memory_10m)
    marks: list[float] = []
    load_start = load_average()
    with RssSampler(("VmRSS", "RssAnon")) as sampler:
        start = time.perf_counter()
        structure = build(
            plan, source, progress=lambda done, total: marks.append(time.perf_counter()), seed=seed
        )
        build_s = time.perf_counter() - start
    peak = {
        "ru_maxrss_gib": gib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "vmhwm_gib": gib(status_kib("VmHWM")),
        "sampled_rss_gib": gib(sampler.peak("VmRSS")),
        "sampled_anon_gib": gib(sampler.peak("RssAnon")),
        "rss_before_build_gib": gib(rss_before),
        "rss_after_build_gib": gib(status_kib()),
    }
    chunks = len(marks)
    per_chunk = (marks[-1] - marks[0]) / (chunks - 1) if chunks > 1 else 0.0
    train_s = marks[0] - start - per_chunk
    timing = {
        "build_s": round(build_s, 1),
        "train_s": round(train_s, 1),
        "add_s": round(marks[-1] - start - train_s, 1),
        "tune_s": round(start + build_s - marks[-1], 1),
        "chunks": chunks,
    }
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        size = structure.save(Path(tmp) / "search.faiss").stat().st_size

    queries = held_out_queries(int(np.load(truth_path).shape[0]), seed)
    truth = np.load(truth_path)
    tuned = int(structure.nprobe or 1)
    rows = []
    for nprobe in sorted({max(1, tuned // 2), tuned, min(int(plan.nlist or 1), 2 * tuned)}):
        structure.set_nprobe(nprobe)
        for rerank in (True, False):
            structure.refine = source.get if rerank else None
            for single in (False, True):
                if single and nprobe != tuned:
                    continue
                r = searched(structure, queries, truth, single=single)
                rows.append(
                    {"nprobe": nprobe, "rerank": rerank, "mode": "single" if single else "batched", **r}
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    structure.set_nprobe(tuned)
    return {
        "n": n,
        "plan": plan.to_dict(),
        "nprobe": tuned,
        "tuned_recall_at_10": round(float(structure.recall or 0), 4),
        **timing,
        "structure_file_bytes": size,
        "structure_bytes_per_vector": round(size / n, 1),
        **peak,
        "searches": rows,
        "load_average": [load_start, load_average()],
    }


def probe_assignment(seed: int) -> dict[str, Any]:
    """Seconds per vector to find the nearest of ``nlist`` centres (faiss exhaustive L2, 2 threads)."""
    import faiss

    mix = Mixture.make(seed=seed)
    rng = np.random.default_rng(seed + 5)
    x = unit(mix.draw(20_000, rng)[0])
    out: dict[str, Any] = {}
    for nlist in (4096, 16384):
        quantizer = faiss.IndexFlatL2(DIM)
        quantizer.add(unit(mix.draw(nlist, rng)[0]))
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            quantizer.search(x, 1)
            best = min(best, time.perf_counter() - start)
        out[str(nlist)] = {"us_per_vector": round(best / len(x) * 1e6, 2), "load_average": load_average()}
        print(f"probe: assignment to {nlist} centres {out[str(nlist)]}", flush=True)
    return out


# ----------------------------------------------------------------------------------------------------------
# Driver


def run_size(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    path = workdir / VECTORS_NAME
    write_s = write_vectors(path, n, args.seed)
    print(f"{n:,}: wrote {path.stat().st_size / 1e9:.2f} GB in {write_s:.1f} s", flush=True)
    try:
        queries = held_out_queries(args.queries, args.seed)
        start = time.perf_counter()
        _, truth = exact_search(file_source(path), queries, K)
        exact_s = time.perf_counter() - start
        truth_path = workdir / "truth.npy"
        np.save(truth_path, truth)
        print(f"{n:,}: exact top-{K} of {args.queries} queries in {exact_s:.1f} s", flush=True)
        command = [
            sys.executable,
            __file__,
            "--child",
            str(path),
            "--sizes",
            str(n),
            "--truth",
            str(truth_path),
        ]
        command += ["--memory", str(args.memory), "--seed", str(args.seed)]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
        result["write_s"] = round(write_s, 1)
        result["exact_s"] = round(exact_s, 1)
        result["exact_qps_batched"] = round(args.queries / exact_s, 1)
        return result
    finally:
        path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="collection sizes")
    parser.add_argument(
        "--memory",
        type=parse_bytes,
        default=4 << 30,
        help="the memory budget for 10M vectors (4G, 1G, bytes)",
    )
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary vectors file goes")
    parser.add_argument(
        "--probe", action="store_true", help="time the quantiser assignment at 4096/16384 lists"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--truth", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_build(args.child, args.sizes[0], args.memory, args.truth, args.seed)))
        return
    import faiss

    plan_10m = plan_for(TEN_M, args.memory)
    default_10m = choose_structure(TEN_M, DIM)
    result: dict[str, Any] = {
        "machine": cpu_info(),
        "faiss": faiss.__version__,
        "faiss_threads": faiss.omp_get_max_threads(),
        "memory_10m": args.memory,
        "plan_10m": plan_10m.to_dict(),
        "default_plan_10m": default_10m.to_dict(),
        "load_average_start": load_average(),
        "sizes": [],
    }
    print(f"10M with the forced budget: {plan_10m.factory} — {plan_10m.reason}")
    print(f"10M with this machine's default budget: {default_10m.factory} — {default_10m.reason}", flush=True)
    with tempfile.TemporaryDirectory(prefix="lookalike-scale-", dir=args.dir) as tmp:
        for n in args.sizes:
            r = run_size(n, args, Path(tmp))
            result["sizes"].append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "searches"}), flush=True)
    if args.probe:
        result["probe"] = probe_assignment(args.seed)
        result["ivf_lists"] = {str(n): ivf_lists(n) for n in (*args.sizes, TEN_M)}
    result["load_average_end"] = load_average()
    print_result(result, args.out)


if __name__ == "__main__":
    main()
