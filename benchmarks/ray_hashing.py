"""What the driver of ``index_folder(..., ray=...)`` reads and computes per photo (issue 23, item 5):
large JPEGs indexed on a local Ray instance, with the driver's CPU time (``getrusage``, this process
only: Ray's workers are other processes) and the bytes it read (``/proc/self/io``: ``rchar``, every
``read``; ``read_bytes``, from the disk) during the embed phase and during a run that finds every file
renamed (the content-hash check of possible renames).

The code measured is whatever ``import lookalike`` finds: run it twice, once with ``PYTHONPATH`` at an
older checkout's ``src`` (its Ray workers inherit the variable), to compare. The photos are made once
into ``--folder`` (kept between runs): ``--bases`` pictures from scikit-image's data, upscaled to
``--side`` pixels with noise, saved as JPEG quality 95 (1–3 MB), then copied to ``--images`` files each
given a unique trailer after the JPEG's end (decoders ignore it; every file has its own SHA-256).

Usage::

    python benchmarks/ray_hashing.py --images 1500 --out after.json
    PYTHONPATH=/tmp/ray_baseline/src python benchmarks/ray_hashing.py --images 1500 --out before.json
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hardware import cpu_info, print_result

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PICTURES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def make_photos(folder: Path, n: int, bases: int, side: int) -> dict[str, Any]:
    """``n`` JPEGs under ``folder/photos`` (made once; an existing folder of ``n`` files is kept)."""
    import skimage.data
    from PIL import Image

    target = folder / "photos"
    if target.is_dir() and len(list(target.glob("*.jpg"))) == n:
        sizes = [p.stat().st_size for p in target.glob("*.jpg")]
        return {"files": n, "mean_mb": statistics.mean(sizes) / 1e6}
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    rng = np.random.default_rng(0)
    blobs = []
    for k in range(bases):
        pixels = getattr(skimage.data, PICTURES[k % len(PICTURES)])()
        img = Image.fromarray(pixels).convert("RGB").resize((side, side * 3 // 4), Image.Resampling.BICUBIC)
        noisy = np.asarray(img, dtype=np.int16) + rng.normal(0, 6 + k % 5, (side * 3 // 4, side, 3))
        path = folder / "base.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=95)
        blobs.append(path.read_bytes())
    path.unlink()
    for i in range(n):
        (target / f"{i:06d}.jpg").write_bytes(blobs[i % bases] + f"lookalike-benchmark-{i}".encode())
    sizes = [len(b) for b in blobs]
    return {
        "files": n,
        "mean_mb": statistics.mean(sizes) / 1e6,
        "bases_mb": [round(s / 1e6, 2) for s in sizes],
    }


def driver_now() -> dict[str, float]:
    """This process's CPU seconds and bytes read so far."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {
        "cpu_s": use.ru_utime + use.ru_stime,
        "rchar": int(io["rchar"]),
        "read_bytes": int(io["read_bytes"]),
    }


def since(start: dict[str, float]) -> dict[str, float]:
    now = driver_now()
    return {k: now[k] - start[k] for k in start}


def timed_run(folder: Path, location: Path, weights: Path, phase: str) -> dict[str, Any]:
    """One ``index_folder`` on the running Ray instance; the driver's CPU and reads over the whole run
    and over ``phase`` (from its first report to its last)."""
    from lookalike.collection import index_folder
    from lookalike.features import Embedder

    marks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name == phase:
            now = (time.perf_counter(), driver_now())
            marks.setdefault("start", now)
            marks["end"] = now

    embedder = Embedder(weights)
    whole, started = driver_now(), time.perf_counter()
    report = index_folder(folder, embedder, location=location, progress=progress, ray="auto")
    wall = time.perf_counter() - started
    total = since(whole)
    (t0, d0), (t1, d1) = marks.get("start", (0.0, driver_now())), marks.get("end", (0.0, driver_now()))
    files = report.new + report.changed + report.moved + len(report.failed)
    part = {k: d1[k] - d0[k] for k in d0}
    return {
        "files": files,
        "new": report.new,
        "moved": report.moved,
        "failed": len(report.failed),
        "wall_s": wall,
        "files_per_s": files / wall,
        "driver_cpu_s": total["cpu_s"],
        "driver_rchar_mb": total["rchar"] / 1e6,
        "driver_read_bytes_mb": total["read_bytes"] / 1e6,
        f"{phase}_s": t1 - t0,
        f"{phase}_files_per_s": files / max(t1 - t0, 1e-9),
        f"{phase}_driver_cpu_s": part["cpu_s"],
        f"{phase}_driver_cpu_ms_per_file": 1000 * part["cpu_s"] / max(files, 1),
        f"{phase}_driver_rchar_mb": part["rchar"] / 1e6,
        f"{phase}_driver_read_bytes_mb": part["read_bytes"] / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--bases", type=int, default=24)
    parser.add_argument("--side", type=int, default=2400, help="width of the photos (height 3/4 of it)")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "lookalike-ray-hashing")
    parser.add_argument("--weights", type=Path, default=SHARED / "models/resnet18-cifar10.pt")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import ray
    import ray.data  # (configures its loggers on import: quietened below)

    import lookalike

    result: dict[str, Any] = {
        "machine": cpu_info(),
        "ray": ray.__version__,
        "lookalike": str(Path(lookalike.__file__).parent),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    result["photos"] = make_photos(args.folder, args.images, args.bases, args.side)
    photos = args.folder / "photos"
    ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ray-hashing-"))
    try:
        # 1. a fresh index: every file new (the embed phase reads, hashes and embeds each)
        result["new"] = timed_run(photos, work / "index", args.weights, "embed")
        print(result["new"], flush=True)
        # 2. every file renamed (moved into a subfolder): each is hashed to find the row it takes over
        inner = photos / "renamed"
        inner.mkdir()
        names = sorted(p.name for p in photos.glob("*.jpg"))
        for name in names:
            (photos / name).rename(inner / name)
        try:
            result["renamed"] = timed_run(photos, work / "index", args.weights, "hash")
        finally:
            for name in names:
                (inner / name).rename(photos / name)
            inner.rmdir()
        print(result["renamed"], flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    result["machine"]["load_average_after"] = os.getloadavg()
    print_result(result, args.out)


if __name__ == "__main__":
    main()
