"""``index_folder`` on Ray Data vs in one process (issue 12): the same CIFAR-10 JPEGs indexed back to back
both ways, in alternating rounds, each into a fresh index.

The Ray side runs on a local Ray instance of ``--actors`` CPUs started once before the rounds (its start
is timed on its own); each round's pool of actors loads the model again, so the embed phase is given in
full and from its first batch on (steady state, start-up excluded), for both paths. The single process
uses the Embedder's defaults (ONNX Runtime float32 on the CPU, batch 64, DataLoader decoding workers).
Both indexes of a round are compared: same rows, least per-image cosine of their vectors.

Usage::

    python benchmarks/ray_index.py                           # 2,000 images, 2 actors, 3 rounds
    python benchmarks/ray_index.py --images 500 --rounds 1 --out ray.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hardware import cpu_info, print_result
from lookalike.collection import Index, index_folder
from lookalike.features import Embedder

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def copy_images(source: Path, target: Path, n: int) -> int:
    """The first ``n // classes`` JPEGs of each class folder of ``source``, copied under ``target``."""
    classes = sorted(p for p in source.iterdir() if p.is_dir())
    each = n // len(classes)
    count = 0
    for folder in classes:
        (target / folder.name).mkdir(parents=True)
        for path in sorted(folder.glob("*.jpg"))[:each]:
            shutil.copyfile(path, target / folder.name / path.name)
            count += 1
    return count


def timed_index(folder: Path, location: Path, embedder: Embedder, ray: str | None) -> dict[str, Any]:
    """One run of ``index_folder``: total and embed-phase seconds, and the embed phase from its first
    batch on (images/s)."""
    marks: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "embed":
            now = time.perf_counter()
            marks.setdefault("start", now)  # (told with done=0 as the phase starts)
            if done and "first" not in marks:
                marks["first"] = (now, done)
            marks["end"] = now

    kwargs: dict[str, Any] = {"ray": ray} if ray else {}
    report = index_folder(folder, embedder, location=location, progress=progress, **kwargs)
    total = report.new + len(report.failed)
    at, done = marks["first"]
    return {
        "seconds": report.seconds,
        "embed_seconds": report.embed_seconds,
        "images_per_s": total / report.embed_seconds,
        "to_first_batch_s": at - marks["start"],
        "steady_images_per_s": (total - done) / max(marks["end"] - at, 1e-9),
        "images": total,
    }


def compare(a: Path, b: Path) -> dict[str, Any]:
    with Index.open(a) as x, Index.open(b) as y:
        ex, ey = sorted(x.entries(), key=lambda e: e.path), sorted(y.entries(), key=lambda e: e.path)
        same_rows = [(e.path, e.sha256) for e in ex] == [(e.path, e.sha256) for e in ey]
        va, vb = x.vectors(ex).astype(np.float64), y.vectors(ey).astype(np.float64)
    cos = np.sum(va * vb, axis=1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))
    return {"same_rows": same_rows, "least_cosine": float(cos.min())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--source", type=Path, default=SHARED / "datasets/cifar10/train")
    parser.add_argument("--weights", type=Path, default=SHARED / "models/resnet18-cifar10.pt")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import ray
    import ray.data  # (configures its loggers on import: quietened below)

    result: dict[str, Any] = {"machine": cpu_info(), "ray": ray.__version__, "rounds": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        result["images"] = copy_images(args.source, folder, args.images)
        started = time.perf_counter()
        ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        result["ray_start_s"] = time.perf_counter() - started
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        try:
            for r in range(args.rounds):
                embedder = Embedder(args.weights)  # fresh each round: each index keeps its ONNX copy
                plain = timed_index(folder, Path(tmp) / f"plain-{r}", embedder, None)
                on_ray = timed_index(folder, Path(tmp) / f"ray-{r}", Embedder(args.weights), "auto")
                same = compare(Path(tmp) / f"plain-{r}", Path(tmp) / f"ray-{r}")
                result["rounds"].append({"single": plain, "ray": on_ray, **same})
                print(json.dumps(result["rounds"][-1]), flush=True)
        finally:
            ray.shutdown()
    for key in ("images_per_s", "steady_images_per_s"):
        single = statistics.median(r["single"][key] for r in result["rounds"])
        on_ray = statistics.median(r["ray"][key] for r in result["rounds"])
        result[f"median_{key}"] = {"single": single, "ray": on_ray, "ray_over_single": on_ray / single}
    result["machine"]["load_average_after"] = os.getloadavg()
    print_result(result, args.out)


if __name__ == "__main__":
    main()
