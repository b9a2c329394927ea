"""Near-duplicate detection on CIFAR-10 with planted variants (issue 4, part 5).

Takes N images of ``../shared/datasets/cifar10/train`` (the same number from each class, fixed seed), copies
them under new random names into a temporary folder, and plants, each from a different original:

* ``copy``   — the same bytes;
* ``jpeg``   — decoded and saved again as JPEG at quality 50;
* ``resize`` — shrunk to 50% per side (bicubic);
* ``flip``   — mirrored left to right;
* ``crop``   — a random box keeping ≥ 90% of the area (sides of whole pixels), at a random place.

Geometric variants are saved as PNG, so each kind tests one change (``--variant-format jpg`` saves them as
JPEG at Pillow's default quality 75 instead, a harder test). Then it runs the real pipeline
(:func:`lookalike.dedup.find_duplicates` on the folder, the call ``lookalike dedup`` makes) and scores it:

* **recall per kind** — the variant ends in the same group as its original (targets: ≥ 0.95 for copy, jpeg,
  resize, flip; ≥ 0.80 for crop);
* **precision** — over every pair of files that share a group (target ≥ 0.98). A pair is *correct* when
  both come from the same original. Pairs whose two originals are themselves different CIFAR-10 files are
  checked again on the two *original files* with the same pixel verifier (:func:`verify_pair`): when it
  accepts them, the pair is counted apart as a **genuine CIFAR-10 near-duplicate** — not planted, so not
  scored either way — and drawn in ``--png`` for a person to check; otherwise it is a false positive.
  The strict precision, counting genuine ones as false, is reported too.

Measured runs are in benchmarks/RESULTS.md ("Dedup (issue 4)").

Usage::

    python benchmarks/dedup.py --weights ../shared/models/resnet18-cifar10.pt --png dedup-genuine.png
    python benchmarks/dedup.py --no-features                  # pixel candidates only (no network)
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10" / "train"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "models" / "resnet18-cifar10.pt"
KINDS = ("copy", "jpeg", "resize", "flip", "crop")
TARGETS = {"copy": 0.95, "jpeg": 0.95, "resize": 0.95, "flip": 0.95, "crop": 0.80, "precision": 0.98}


def pick_originals(data: Path, n: int, rng: random.Random) -> list[Path]:
    classes = sorted(p for p in data.iterdir() if p.is_dir())
    per_class = n // len(classes)
    picked: list[Path] = []
    for folder in classes:
        files = sorted(folder.glob("*.jpg"))
        picked += rng.sample(files, per_class)
    return picked


def crop_box(width: int, height: int, rng: random.Random) -> tuple[int, int, int, int]:
    """A random box of whole pixels keeping ≥ 90% of the area (and cutting something)."""
    while True:
        w, h = rng.randint(int(0.9 * width), width), rng.randint(int(0.9 * height), height)
        if w * h >= 0.9 * width * height and (w, h) != (width, height):
            x, y = rng.randint(0, width - w), rng.randint(0, height - h)
            return x, y, x + w, y + h


def plant(
    originals: list[Path], folder: Path, per_kind: int, fmt: str, rng: random.Random
) -> tuple[dict[Path, int], dict[Path, str]]:
    """Copy the originals under random names and write the variants. Returns origin (index of the
    original) and kind ("original" or a variant kind) of every file written."""
    from PIL import Image

    names = rng.sample(range(10**6), len(originals) + per_kind * len(KINDS))
    origin: dict[Path, int] = {}
    kind: dict[Path, str] = {}
    for i, src in enumerate(originals):
        dst = folder / f"{names[i]:06d}.jpg"
        shutil.copyfile(src, dst)
        origin[dst], kind[dst] = i, "original"
    sources = rng.sample(range(len(originals)), per_kind * len(KINDS))
    for j, i in enumerate(sources):
        k = KINDS[j // per_kind]
        src = folder / f"{names[i]:06d}.jpg"
        name = names[len(originals) + j]
        ext = "jpg" if k in ("copy", "jpeg") or fmt == "jpg" else "png"
        dst = folder / f"{name:06d}.{ext}"
        with Image.open(src) as opened:
            img = opened.convert("RGB")
        if k == "copy":
            shutil.copyfile(src, dst)
        elif k == "jpeg":
            img.save(dst, quality=50)
        elif k == "resize":
            img.resize((img.width // 2, img.height // 2), Image.Resampling.BICUBIC).save(dst)
        elif k == "flip":
            img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(dst)
        else:
            img.crop(crop_box(img.width, img.height, rng)).save(dst)
        origin[dst], kind[dst] = i, k
    return origin, kind


def score(
    result: Any, origin: dict[Path, int], kind: dict[Path, str], originals: list[Path]
) -> dict[str, Any]:
    from lookalike.dedup import verify_pair

    group_of = {p: g for g, group in enumerate(result.groups) for p in group.paths}
    by_origin: dict[int, list[Path]] = {}
    for p, o in origin.items():
        by_origin.setdefault(o, []).append(p)
    recall: dict[str, list[bool]] = {k: [] for k in KINDS}
    # lowest NCC and highest RMSE between a variant and its original, where one of them keeps the group
    worst: dict[str, list[float]] = {k: [1.0, 0.0] for k in KINDS}
    for p, k in kind.items():
        if k == "original":
            continue
        source = next(q for q in by_origin[origin[p]] if kind[q] == "original")
        found = p in group_of and group_of.get(source) == group_of[p]
        recall[k].append(found)
        group = result.groups[group_of[p]] if found else None
        if group is not None and group.keeper in (p, source):  # scores are against the keeper
            other = next(m for m in group.members if m.path == (source if group.keeper == p else p))
            worst[k] = [min(worst[k][0], other.ncc), max(worst[k][1], other.rmse)]

    correct = genuine = false = 0
    checked: dict[tuple[int, int], Any] = {}
    false_pairs: list[dict[str, Any]] = []
    for group in result.groups:
        for a, b in combinations(group.paths, 2):
            oa, ob = origin[a], origin[b]
            if oa == ob:
                correct += 1
                continue
            key = (min(oa, ob), max(oa, ob))
            if key not in checked:
                checked[key] = verify_pair(originals[key[0]], originals[key[1]])
            if checked[key].duplicate:
                genuine += 1
            else:
                false += 1
                false_pairs.append({"a": str(a), "b": str(b), "kinds": [kind[a], kind[b]]})
    genuine_origins = sorted({k for k, c in checked.items() if c.duplicate})
    total = correct + genuine + false
    return {
        "recall": {k: sum(v) / len(v) if v else None for k, v in recall.items()},
        "recall_counts": {k: [sum(v), len(v)] for k, v in recall.items()},
        "worst_found": {k: {"ncc": round(v[0], 4), "rmse": round(v[1], 4)} for k, v in worst.items()},
        "pairs": {"correct": correct, "genuine_cifar": genuine, "false": false, "total": total},
        "precision": correct / (correct + false) if correct + false else None,
        "precision_strict": correct / total if total else None,
        "genuine": [
            {
                "a": str(originals[a]),
                "b": str(originals[b]),
                "ncc": round(checked[(a, b)].ncc, 4),
                "rmse": round(checked[(a, b)].rmse, 4),
            }
            for a, b in genuine_origins
        ],
        "false_pairs": false_pairs,
        "rejected_original_pairs": [
            {"a": str(originals[a]), "b": str(originals[b]), "ncc": round(c.ncc, 4), "rmse": round(c.rmse, 4)}
            for (a, b), c in checked.items()
            if not c.duplicate
        ],
    }


def _short(path: str) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}"


def draw_genuine(report: dict[str, Any], path: Path, limit: int) -> Path:
    """The genuine CIFAR-10 near-duplicates as rows of (original, original), scores in the captions."""
    from lookalike.report import Tile, TileRow, plot_tile_rows

    rows = []
    pairs = report["genuine"][:limit]
    per_row = 3
    for start in range(0, len(pairs), per_row):
        tiles: list[Tile] = []
        for pair in pairs[start : start + per_row]:
            caption = f"ncc {pair['ncc']:.3f} rmse {pair['rmse']:.3f}"
            for side in ("a", "b"):
                p = Path(pair[side])
                tiles.append(Tile(p, caption if side == "a" else "", f"{p.parent.name}/{p.name}"))
        rows.append(TileRow(f"pairs {start + 1}–{start + len(pairs[start : start + per_row])}", tiles))
    title = (
        f"Genuine near-duplicates among the CIFAR-10 originals (pairs the pixel verifier accepts), "
        f"{len(pairs)} of {len(report['genuine'])}"
    )
    return plot_tile_rows(rows, path, title=title, thumb=64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 train folder (class subfolders)"
    )
    ap.add_argument("--images", type=int, default=5000, help="originals, the same number from each class")
    ap.add_argument("--per-kind", type=int, default=200, help="variants planted per kind")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant-format", choices=("png", "jpg"), default="png")
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="weights for the feature candidates")
    ap.add_argument("--no-features", action="store_true", help="pixel candidates only (no network)")
    ap.add_argument("--png", type=Path, help="draw the genuine CIFAR-10 near-duplicates to this PNG")
    ap.add_argument("--out", type=Path, help="write the full report (JSON) here")
    ap.add_argument("--keep", type=Path, help="build the folder here and keep it (default: a temp folder)")
    args = ap.parse_args()

    import torch

    from lookalike.dedup import find_duplicates
    from lookalike.features import Embedder

    rng = random.Random(args.seed)
    originals = pick_originals(args.data, args.images, rng)
    work = Path(tempfile.mkdtemp(prefix="lookalike-dedup-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        origin, kind = plant(originals, work, args.per_kind, args.variant_format, rng)
        plant_s = time.perf_counter() - t0

        embedder = None if args.no_features else Embedder(args.weights)
        t0 = time.perf_counter()
        result = find_duplicates(work, embedder=embedder)
        dedup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = score(result, origin, kind, originals)
        score_s = time.perf_counter() - t0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    report.update(
        {
            "images": result.images,
            "originals": len(originals),
            "per_kind": args.per_kind,
            "variant_format": args.variant_format,
            "seed": args.seed,
            "features": None
            if embedder is None
            else {"weights": args.weights, "precision": embedder.precision},
            "groups": len(result.groups),
            "duplicates": result.duplicates,
            "stats": result.stats,
            "settings": result.settings,
            "seconds": {
                "plant": round(plant_s, 1),
                "find_duplicates": round(dedup_s, 1),
                "score": round(score_s, 1),
            },
            "machine": {
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            },
        }
    )
    if args.png is not None and report["genuine"]:
        draw_genuine(report, args.png, limit=30)
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"{result.images:,} images ({len(originals):,} originals + {args.per_kind} × {len(KINDS)} variants, "
        f"{args.variant_format}), features: {'off' if embedder is None else args.weights}"
    )
    print(f"find_duplicates: {dedup_s:.1f} s · {len(result.groups)} groups · stats {result.stats}")
    print("kind     recall        target      worst found pair: NCC, RMSE")
    ok = True
    for k in KINDS:
        found, n = report["recall_counts"][k]
        r = report["recall"][k]
        passed = r is not None and r >= TARGETS[k]
        ok &= passed
        w = report["worst_found"][k]
        print(
            f"{k:8} {r:.3f} ({found}/{n})  ≥ {TARGETS[k]:.2f} {'ok' if passed else 'MISSED':6}  "
            f"{w['ncc']:.3f}, {w['rmse']:.3f}"
        )
    pairs = report["pairs"]
    p = report["precision"]
    passed = p is not None and p >= TARGETS["precision"]
    ok &= passed
    print(
        f"precision {p:.4f} over {pairs['correct'] + pairs['false']} pairs ({pairs['false']} false; "
        f"≥ {TARGETS['precision']:.2f} {'ok' if passed else 'MISSED'}); strict (genuine counted as false) "
        f"{report['precision_strict']:.4f}"
    )
    print(
        "genuine CIFAR-10 near-duplicates (pairs of originals the verifier accepts): "
        f"{len(report['genuine'])} pairs, {pairs['genuine_cifar']} grouped pairs involve them"
    )
    for g in report["genuine"]:
        print(f"  {_short(g['a'])} ~ {_short(g['b'])}  ncc {g['ncc']:.3f} rmse {g['rmse']:.3f}")
    for fp in report["false_pairs"][:20]:
        print(f"  false pair: {fp}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
