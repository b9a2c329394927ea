"""The search structure's memory plan against measured peak RSS (issue 23, item 4).

Purpose: check :func:`lookalike.collection.plan.memory_estimate` — what :func:`choose_structure` compares
with the memory budget — against what a build really takes: the peak RSS of a process that builds the
planned structure, and the RSS it holds afterwards and once the saved structure is read back.

Method:

* vectors: the Gaussian mixture of ``benchmarks/search.py`` (clustered 512-d float32; the first 1M equal
  that script's), written to a raw float32 vectors file in the store's layout by
  ``benchmarks/search_scale.py``'s ``write_vectors``;
* each build runs in a fresh process, through the product's path: ``ann.build`` over ``StoreSource``
  (the store's source: sequential 64 MiB chunks, one pass to draw the k-means sample, ``Store.read_vectors``
  for re-ranking) on a stand-in store whose ``read_vectors`` is the store's (``search_scale.FileStore``);
  nothing holds the vectors: the file is read, not mapped;
* baseline: that process's RSS after importing NumPy, faiss and lookalike, opening the source and
  starting faiss's OpenMP threads, before the build (the interpreter and libraries: about 0.1 GiB).
  Measured peak = ``ru_maxrss`` (the kernel's high-water mark of the process; equal to ``VmHWM``, also
  recorded, because the parent that forks it stays small: it writes the vectors in another child) −
  baseline;
  ``held`` = RSS after ``build`` returned − baseline; ``loaded`` = RSS growth of another fresh process
  that reads the saved structure with ``Structure.load``. Each is divided by the plan's estimate
  (``peak``, ``bytes``, ``loaded`` of :func:`memory_estimate`): 1.0 = exact, < 1 = the estimate is high;
* the phase of the peak: RSS sampled every 20 ms in a thread, split by ``build``'s progress callback
  (train until its first call, add until its last, tune after);
* plans: ``default`` (what this machine's budget chooses: ``SQfp16``), ``pq`` (``choose_structure`` with
  a budget that just fits ``PQ256`` without faiss's precomputed table) and ``pq-table`` (the same codes
  with the table, set by hand — the issue's case: nlist × 256 × 1 KiB; at these sizes a budget that fits
  it also fits ``SQfp16``, which the chooser then prefers);
* for ``pq-table`` and ``pq``, search speed with and without the table (1,000 held-out queries batched,
  best of 3, at the tuned nprobe; PQ scores only and re-ranked; the plan's own setting first): what the
  table buys.

Usage::

    python benchmarks/search_memory.py --sizes 100000                        # a quick check
    python benchmarks/search_memory.py --sizes 100000 300000 1000000 --out memory.json
    python benchmarks/search_memory.py --threads 1 ...     # one OpenMP thread: PQ256 training stalls
                                                           # on a busy 2-core machine with two

Temporary vectors files go to ``--dir`` (default: the system's temporary folder).

Measured (2-core AMD EPYC, AVX2, faiss-cpu 1.15.1, one thread; benchmarks/RESULTS.md, "Search structure
memory plan"): peak RSS over the estimate at 1M — 1.034 for ``IVF4096,PQ256`` with the precomputed table
(1,725 MiB against 1,668; the old plan said 273 MB), 1.091 without it, 0.985 for ``IVF4096,SQfp16``; held
memory once loaded within 0.3%; at 100k 1.18 (fixed allocator slack). The table made search slower, not
faster, so plans leave it out.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from hardware import cpu_info, print_result
from lookalike.collection.ann import Structure, build
from lookalike.collection.plan import (
    Plan,
    choose_structure,
    default_memory_budget,
    ivf_lists,
    memory_estimate,
)
from rss import RssSampler, status_kib
from search import DIM, K
from search_scale import file_source, held_out_queries, write_vectors

PLANS = ("default", "pq", "pq-table")
MIB = 1 << 20


def plan_named(name: str, n: int) -> Plan:
    if name == "default":
        return choose_structure(n, DIM)
    lean = memory_estimate("ivf-pq", n, DIM, nlist=ivf_lists(n), pq_bytes=256)
    plan = choose_structure(n, DIM, memory_budget=lean["peak"])  # PQ256 fits, its table does not
    assert plan.pq_bytes == 256 and not plan.precomputed_table, plan
    if name == "pq":
        return plan
    mem = memory_estimate("ivf-pq", n, DIM, nlist=plan.nlist, pq_bytes=plan.pq_bytes, precomputed_table=True)
    return dataclasses.replace(
        plan, precomputed_table=True, bytes=mem["bytes"], build_bytes=mem["peak"], reason="forced"
    )


def malloc_info() -> dict[str, float]:
    """glibc's ``mallinfo2`` in MiB: heap bytes in use and free (freed but kept by malloc), mmapped."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in [
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            ]
        ]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {
        "heap_in_use_mib": round(info.uordblks / MIB, 1),
        "heap_free_mib": round(info.fordblks / MIB, 1),
        "mmapped_mib": round(info.hblkhd / MIB, 1),
    }


def qps(structure: Structure, queries: np.ndarray) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        structure.search(queries, K)
        best = min(best, time.perf_counter() - start)
    return round(len(queries) / best, 1)


def child_build(path: Path, n: int, name: str, saved: Path, seed: int) -> dict[str, Any]:
    import faiss

    source = file_source(path)
    assert len(source) == n, (len(source), n)
    plan = plan_named(name, n)
    faiss.IndexFlatL2(8).search(np.zeros((64, 8), np.float32), 1)  # start the OpenMP threads
    baseline = status_kib()
    marks: list[float] = []

    def progress(done: int, total: int) -> None:
        marks.append(time.perf_counter())
        sampler.phase = "tune" if done >= total else "add"

    with RssSampler(every=0.02, phase="train") as sampler:
        start = time.perf_counter()
        structure = build(plan, source, progress=progress, seed=seed)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm = status_kib("VmHWM")
    held = status_kib()
    mem = plan.memory()
    result: dict[str, Any] = {
        "n": n,
        "plan": name,
        "factory": plan.factory,
        "precomputed_table": plan.precomputed_table,
        "nprobe": structure.nprobe,
        "build_s": round(seconds, 1),
        "train_s": round(marks[0] - start, 1) if marks else None,
        "estimate_mib": {k: round(v / MIB, 1) for k, v in mem.items()},
        "baseline_mib": round(baseline / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "vmhwm_mib": round(hwm / 1024, 1),
        "measured_peak_mib": round((peak - baseline) / 1024, 1),
        "peak_ratio": round((peak - baseline) * 1024 / mem["peak"], 3),
        "phase_peak_mib": {k: round((v["VmRSS"] - baseline) / 1024, 1) for k, v in sampler.peaks.items()},
        "measured_held_mib": round((held - baseline) / 1024, 1),
        "held_ratio": round((held - baseline) * 1024 / mem["bytes"], 3),
        "malloc_after_build": malloc_info(),
    }
    structure.save(saved)
    if plan.kind == "ivf-pq":  # the plan's own setting first, then the other (after the peak was read)
        queries = held_out_queries(1000, seed)
        speed: dict[str, float] = {}
        for table in (plan.precomputed_table, not plan.precomputed_table):
            ivf: Any = faiss.downcast_index(faiss.extract_index_ivf(structure.index))
            ivf.use_precomputed_table = 1 if table else -1
            ivf.precompute_table()
            for rerank in (False, True):
                structure.refine = source.get if rerank else None
                speed[f"{'table' if table else 'no_table'}_{'reranked' if rerank else 'pq_only'}"] = qps(
                    structure, queries
                )
        result["qps"] = speed
    return result


def child_load(saved: Path, meta: dict[str, Any]) -> dict[str, Any]:
    import faiss

    faiss.IndexFlatL2(8).search(np.zeros((64, 8), np.float32), 1)
    baseline = status_kib()
    structure = Structure.load(saved, meta)
    held = status_kib()
    loaded = structure.plan.memory()["loaded"]
    return {
        "measured_loaded_mib": round((held - baseline) / 1024, 1),
        "loaded_ratio": round((held - baseline) * 1024 / loaded, 3),
    }


def run_child(args: list[str], threads: int = 0) -> dict[str, Any]:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--plans", nargs="+", choices=PLANS, default=list(PLANS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary vectors file goes")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=0, help="OpenMP threads of the builds (0: faiss's)")
    parser.add_argument("--write", nargs=2, metavar=("VECTORS", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, metavar=("VECTORS", "N", "PLAN", "SAVED"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("SAVED", "META"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        vectors, n, name, saved = args.child
        print(json.dumps(child_build(Path(vectors), int(n), name, Path(saved), args.seed)))
        return
    if args.load:
        print(json.dumps(child_load(Path(args.load[0]), json.loads(args.load[1]))))
        return
    if args.write:
        print(json.dumps({"write_s": write_vectors(Path(args.write[0]), int(args.write[1]), args.seed)}))
        return
    import faiss

    result: dict[str, Any] = {
        "machine": cpu_info(),
        "faiss": faiss.__version__,
        "faiss_threads": args.threads or faiss.omp_get_max_threads(),
        "default_budget_gib": round(default_memory_budget() / (1 << 30), 2),
        "date": time.strftime("%Y-%m-%d"),
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="lookalike-memory-", dir=args.dir) as tmp:
        for n in args.sizes:
            path = Path(tmp) / "vectors-bench.f32"
            # in a child: this process stays small, and a child's ru_maxrss (which counts what it had
            # when forked, before exec) stays its own
            run_child(["--write", str(path), str(n), "--seed", str(args.seed)])
            try:
                for name in args.plans:
                    saved = Path(tmp) / "search.faiss"
                    load = os.getloadavg()[0]
                    build_args = ["--child", str(path), str(n), name, str(saved), "--seed", str(args.seed)]
                    r = run_child(build_args, args.threads)
                    plan = plan_named(name, n)
                    meta = {**plan.to_dict(), "nprobe": r["nprobe"]}
                    r |= run_child(["--load", str(saved), json.dumps(meta)], args.threads)
                    r["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
                    saved.unlink(missing_ok=True)
                    result["runs"].append(r)
                    print(json.dumps(r), flush=True)
            finally:
                path.unlink(missing_ok=True)
    print_result(result, args.out)


if __name__ == "__main__":
    main()
