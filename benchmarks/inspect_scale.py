"""Time and memory of ``lookalike inspect`` on 60,000 CIFAR-10 images (issue 22: under 5 minutes on 2 cores).

The shared data holds CIFAR-10's 50,000 training images only, so the 60,000-image folder stands in for the
whole dataset: ``train/<class>/`` holds the 50,000 training JPEGs, ``test/<class>/`` 10,000 planted copies
of random training images (JPEG quality 30, 50% size, a quarter turn, a crop keeping 77% of the area,
brightness +12%, 2,000 each, :func:`dedup_scale.plant_copy`) filed under their own class, in place of the
10,000 test images: every one a leak to find. ``lookalike inspect FOLDER --json FILE`` runs in a fresh
process; its wall time, its own peak RSS (``ru_maxrss`` of the child), the peak memory of it and the
workers it forks (proportional set size, shared pages once: ``rss.TreeSampler``) and its counts per kind
are recorded. ``--copies 0`` makes a folder of the 50,000 training images alone.

Usage::

    python benchmarks/inspect_scale.py --folder /tmp/inspect60k            # builds the folder once
    python benchmarks/inspect_scale.py --folder /tmp/inspect60k --weights ../shared/models/resnet18-cifar10.pt
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from dedup_scale import COPIES, DEFAULT_DATA, plant_copy  # noqa: E402
from hardware import cpu_info  # noqa: E402
from rss import TreeSampler  # noqa: E402


def build(data: Path, folder: Path, seed: int, copies: int) -> int:
    """``folder/train/<class>/`` (every training JPEG) and ``folder/test/<class>/`` (``copies`` planted
    copies); returns the file count. A folder built before is kept as it is."""
    done = folder / ".built"
    if done.exists():
        return int(done.read_text())
    files = sorted(data.rglob("*.jpg"))
    for f in files:
        target = folder / "train" / f.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    rng = random.Random(seed)
    for j, f in enumerate(rng.sample(files, copies)):
        target = folder / "test" / f.parent.name
        target.mkdir(parents=True, exist_ok=True)
        plant_copy(f, COPIES[j % len(COPIES)], target / f"copy-{j:05d}")
    n = len(files) + copies
    done.write_text(str(n))
    return n


def run_inspect(folder: Path, out: Path, weights: str | None) -> dict[str, Any]:
    """``lookalike inspect FOLDER --json OUT`` in a fresh process: wall time, its peak RSS, counts."""
    code = "import sys; from lookalike.cli import main; sys.argv = ['lookalike', *sys.argv[1:]]; main()"
    cmd = [sys.executable, "-c", code, "inspect", str(folder), "--json", str(out), "--no-index"]
    if weights:
        cmd += ["--weights", weights]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        with TreeSampler(child.pid) as tree:  # (it and the workers it forks, shared pages once)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, not the largest so far
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"inspect failed: {err.read().decode(errors='replace').strip()[-500:]}")
    data = json.loads(out.read_text())
    return {
        "wall_s": round(wall, 1),
        "user_s": round(usage.ru_utime, 1),
        "system_s": round(usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "peak_tree_pss_mb": round(tree.peak / 1024),
        "counts": data.get("counts"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, required=True, help="the 60,000-image folder (built once)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 train folder")
    ap.add_argument("--copies", type=int, default=10_000, help="copies in place of the test split")
    ap.add_argument("--weights", help="also run the outlier test on features from these weights")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the report (JSON) here")
    ap.add_argument("--findings", type=Path, help="keep lookalike inspect's own --json file here")
    args = ap.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no CIFAR-10 folder at {args.data}: pass --data")
    n = build(args.data, args.folder, args.seed, args.copies)
    with tempfile.TemporaryDirectory() as tmp:
        findings = args.findings or Path(tmp) / "findings.json"
        run = run_inspect(args.folder, findings, args.weights)
    report = {"machine": cpu_info(), "images": n, "weights": args.weights, **run}
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
