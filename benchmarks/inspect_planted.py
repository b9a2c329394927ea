"""Inspect (issue 22; not named inspect.py, which would hide the standard library's inspect module from
every import made while it runs): precision and recall of ``lookalike inspect`` per kind on a folder with
planted problems (tests/planted_issues.py: real CIFAR-10 images enlarged to 96–224 px in ``train/`` and
``test/`` class folders, ``--per-kind`` planted files of each kind), with the shared ResNet-18's features.

A finding counts when it is on a planted file of its kind (for planted duplicates, on the copy or on the
file it was made from); every other finding is a false positive. Prints a table and writes JSON.

    python benchmarks/inspect_planted.py                       # seed 0, 4 per kind
    python benchmarks/inspect_planted.py --per-kind 8 --seed 1 --out inspect.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from hardware import cpu_info, print_result  # noqa: E402
from planted_issues import KINDS, pairs_of, plant  # noqa: E402
from shared_data import WEIGHTS  # noqa: E402


def score(truth: dict[Path, set[str]], findings: list[Any]) -> dict[str, dict[str, Any]]:
    """Per kind: planted, found, true positives, precision, recall, and the misses and false findings."""
    pairs = pairs_of(truth)
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        want = {p for p, k in truth.items() if kind in k}
        got = {f.path for f in findings if f.kind == kind}
        hit = {p for p in want if p in got or pairs.get(p) in got}
        true_found = {g for g in got if g in want or g in {pairs.get(p) for p in want}}
        out[kind] = {
            "planted": len(want),
            "found": len(got),
            "recall": round(len(hit) / len(want), 3) if want else None,
            "precision": round(len(true_found) / len(got), 3) if got else None,
            "missed": sorted(str(p) for p in want - hit),
            "false": sorted(str(p) for p in got - true_found),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-kind", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from lookalike.features import Embedder
    from lookalike.inspection import inspect_folder

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "data"
        truth = plant(folder, seed=args.seed, per_class=args.per_class, per_kind=args.per_kind)
        embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
        started = time.perf_counter()
        report = inspect_folder(folder, embedder=embedder)
        seconds = time.perf_counter() - started
        per_kind = score(truth, report.findings)
        for row in per_kind.values():
            row["missed"] = [str(Path(p).relative_to(folder)) for p in row["missed"]]
            row["false"] = [str(Path(p).relative_to(folder)) for p in row["false"]]
    print(f"{'kind':18s} planted found precision recall")
    for kind, row in per_kind.items():
        print(
            f"{kind:18s} {row['planted']:7d} {row['found']:5d} {row['precision']!s:>9s} {row['recall']!s:>6s}"
        )
    print_result(
        {
            "machine": cpu_info(),
            "seed": args.seed,
            "per_kind": args.per_kind,
            "images": report.images,
            "seconds": round(seconds, 1),
            "peak_memory_mb": round((report.peak_memory or 0) / 2**20),
            "kinds": per_kind,
            "notes": report.notes,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
