"""Retrieval quality on CIFAR-10: pixels vs ResNet-18 features, for L1, MSE, cosine and NCC (issue 4, part 6).

Runs :func:`lookalike.evaluate.evaluate` — the call ``lookalike evaluate`` makes — on the JPEG copy of the
CIFAR-10 training split with the shared ResNet-18: ``--queries`` images (a fixed-seed, class-stratified
choice) query a gallery of ``--limit`` other images drawn evenly from the classes. Target: feature cosine
P@10 ≥ 0.85, where raw pixels give about 0.30.

Mind what this measures: the shared model was *trained* on these very images (with their labels), so
features of training images cluster by class more tightly than those of unseen images would; the shared
model README reports P@10 = 0.90 for the held-back test split against the 50,000 training images.

Measured runs are in benchmarks/RESULTS.md ("Retrieval quality (issue 4)").

Usage::

    python benchmarks/evaluate.py --queries 1000 --limit 20000 --png retrieval-examples.png --out r.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10" / "train"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "models" / "resnet18-cifar10.pt"
TARGET = 0.85  # feature cosine P@10


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a labelled folder (class subfolders)")
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=20000, help="gallery size (0: every image not a query)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--png", type=Path, help="draw a few queries with their top 5 by pixels and by features")
    ap.add_argument("--out", type=Path, help="write the result (JSON) here")
    args = ap.parse_args()

    import torch

    from lookalike.evaluate import draw_examples, evaluate
    from lookalike.features import Embedder

    embedder = Embedder(args.weights, precision=args.precision)
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 30 or done == total:
            last[0] = now
            print(f"  {stage} {done:,}/{total:,}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    result = evaluate(
        args.data,
        embedder=embedder,
        queries=args.queries,
        limit=args.limit or None,
        k=args.k,
        seed=args.seed,
        progress=progress,
    )
    wall = time.perf_counter() - started
    if args.png is not None:
        draw_examples(result, args.png)
    report = result.to_dict()
    report["wall_seconds"] = round(wall, 1)
    report["images_per_s_embedding"] = round(
        (len(result.query_paths) + len(result.gallery_paths)) / result.seconds["embedding"], 1
    )
    report["machine"] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    k = result.k
    print(
        f"{len(result.query_paths):,} queries vs {len(result.gallery_paths):,} gallery images, "
        f"{len(result.classes)} classes, k = {k}, split seed {result.seed}; "
        f"{result.model}, {result.precision}"
    )
    print(f"{'metric':8} {'P@k px':>8} {'P@k ft':>8} {'mAP px':>8} {'mAP ft':>8} {'kNN px':>8} {'kNN ft':>8}")
    for name, spaces in result.table.items():
        cells = [spaces[s][m] for m in ("p_at_k", "map_at_k", "knn_accuracy") for s in ("pixels", "features")]
        print(f"{name:8} " + " ".join(f"{c:8.4f}" for c in cells))
    print(f"chance P@{k}: {result.chance_p_at_k:.4f}")
    s = result.seconds
    print(
        f"embedding {s['embedding']:.1f} s ({report['images_per_s_embedding']} images/s, pixels + features), "
        f"ranking {s['ranking']:.1f} s, total {wall:.1f} s"
    )
    p = result.table.get("cosine", {}).get("features", {}).get("p_at_k")
    ok = p is not None and p >= TARGET
    print(f"feature cosine P@{k} = {p:.4f} (target ≥ {TARGET}): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
