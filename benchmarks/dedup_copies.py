"""Every copy people make, every look-alike kept apart, and the right file kept (issue 18).

Builds the hard-negative folder of ``tests/hard_negatives.py`` — families of distinct images that share a
layout (text pages, app windows, shapes on white, CIFAR-10 photos on plain sky, receipts and invoices of
one template whose digits differ, charts of one style, QR-like codes and barcodes, chat screenshots of one
app, full-size photos and distinct crops of them) — and plants, on originals of every category, each edit
of ``tests/planted_edits.py``: JPEG quality 30, 25% size, WebP, brightness ±12%, contrast and gamma ±15%,
a colour cast, a scan (a small turn, blur, noise), crops keeping 81% and 75–80% of the area, a black
letterbox, a white frame, a pillarbox, quarter and half turns, mirror images and mirrored turns. Then it
runs :func:`lookalike.dedup.find_duplicates` (what ``lookalike dedup`` calls) at each strictness and
scores:

* **recall per edit** — the copy ends in its original's group (target ≥ 0.95 for every edit);
* **distinct pairs grouped** — pairs of files from two different originals sharing a group (target 0 at
  the default setting), by category; CIFAR-10 photos whose originals are themselves one shot (the
  verifier accepts the two original files: frames of one burst) are listed apart, as ``genuine_cifar``;
* **keeper** — in groups that hold an original and at least one of its copies, whether the original is
  the keeper (target ≥ 0.98; groups whose copies are all mirror images are left out: either file may be
  the original);
* the relation reported for turned and mirrored copies, and the time.

``--imagededup`` scores imagededup's PHash on the same folder when it can be imported (a scratch install;
never a dependency). Measured runs are in benchmarks/RESULTS.md ("Dedup: every copy (issue 18)").

Usage::

    python benchmarks/dedup_copies.py                    # seed 0, 2 copies per edit and category
    python benchmarks/dedup_copies.py --seed 1 --per-edit 3 --out copies.json
    python benchmarks/dedup_copies.py --keep-folder /tmp/copies   # keep the folder to look at it
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import hard_negatives  # noqa: E402
import planted_edits  # noqa: E402
from hardware import cpu_info  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10" / "train"
MIRRORS = ("mirror", "transpose", "transverse")
TARGETS = {"recall": 0.95, "keeper": 0.98}


def score(groups: list[list[Path]], keepers: list[Path], planted: list[Any]) -> dict[str, Any]:
    """Recall per edit, distinct pairs per category pair, keeper accuracy (see the module docstring).
    Two CIFAR-10 photos (``sky``) whose own originals the verifier takes for one shot (CIFAR-10 holds
    frames of one burst, shifted or recoloured) are listed under ``genuine_cifar``, not counted."""
    from lookalike.dedup import verify_pair

    info = {p.path: p for p in planted}
    group_of = {path: g for g, paths in enumerate(groups) for path in paths}
    original = {p.origin: p.path for p in planted if p.kind == "original"}
    recall: dict[str, list[int]] = {}
    missed: list[dict[str, str]] = []
    for p in planted:
        if p.kind == "original":
            continue
        o = original[p.origin]
        found = p.path in group_of and group_of.get(o) == group_of[p.path]
        counts = recall.setdefault(p.kind, [0, 0])
        counts[0] += found
        counts[1] += 1
        if not found:
            missed.append({"edit": p.kind, "category": p.category, "copy": p.path.name, "original": o.name})
    false_by: dict[str, int] = {}
    examples: list[dict[str, str]] = []
    genuine: set[tuple[int, int]] = set()
    checked: dict[tuple[int, int], bool] = {}
    for paths in groups:
        for a, b in combinations(paths, 2):
            oa, ob = info[a].origin, info[b].origin
            if oa == ob:
                continue
            key = (min(oa, ob), max(oa, ob))
            if info[a].category == info[b].category == "sky":  # CIFAR-10 holds shots taken twice
                if key not in checked:
                    checked[key] = verify_pair(original[key[0]], original[key[1]]).duplicate
                if checked[key]:
                    genuine.add(key)
                    continue
            cat = "/".join(sorted((info[a].category, info[b].category)))
            false_by[cat] = false_by.get(cat, 0) + 1
            examples.append({"a": a.name, "b": b.name, "notes": f"{info[a].note} | {info[b].note}"})
    kept = wrong = 0
    wrong_examples: list[dict[str, str]] = []
    for paths, keeper in zip(groups, keepers, strict=True):
        origins = {info[p].origin for p in paths}
        for o in origins:
            members = [info[p] for p in paths if info[p].origin == o]
            copies = [m for m in members if m.kind != "original"]
            if original[o] not in paths or not copies or all(m.kind in MIRRORS for m in copies):
                continue
            if keeper == original[o]:
                kept += 1
            else:
                wrong += 1
                wrong_examples.append(
                    {"kept": f"{info[keeper].kind} {keeper.name}", "original": original[o].name}
                )
    total = sum(n for _, n in recall.values())
    return {
        "recall": {k: round(f / n, 4) for k, (f, n) in recall.items()},
        "recall_counts": recall,
        "recall_all": round(sum(f for f, _ in recall.values()) / max(total, 1), 4),
        "missed": missed,
        "distinct_pairs": sum(false_by.values()),
        "genuine_cifar": [[original[a].name, original[b].name] for a, b in sorted(genuine)],
        "distinct_by_category": false_by,
        "distinct_examples": examples[:30],
        "keeper": {
            "original_kept": kept,
            "other_kept": wrong,
            "share": round(kept / max(kept + wrong, 1), 4),
        },
        "keeper_wrong": wrong_examples[:30],
    }


def relations(result: Any, planted: list[Any]) -> dict[str, dict[str, int]]:
    """For each geometric edit, the relations reported between copy and keeper (when the original keeps)."""
    info = {p.path: p for p in planted}
    seen: dict[str, dict[str, int]] = {}
    for g in result.groups:
        if info[g.keeper].kind != "original":
            continue
        for m in g.duplicates:
            kind = info[m.path].kind
            if kind in planted_edits.GEOMETRIC and info[m.path].origin == info[g.keeper].origin:
                counts = seen.setdefault(kind, {})
                counts[m.kind] = counts.get(m.kind, 0) + 1
    return seen


def phash_groups(folder: Path) -> tuple[list[list[Path]], float] | None:
    """imagededup's PHash duplicates of ``folder`` (``benchmarks/dedup.py``'s :func:`phash_pairs`) as groups
    (connected components), or None when it is not installed."""
    from dedup import phash_pairs
    from lookalike.dedup.grouping import components

    found = phash_pairs(folder)
    if found is None:
        return None
    pairs, seconds = found
    names = sorted({p for pair in pairs for p in pair})
    index = {p: i for i, p in enumerate(names)}
    edges = [(index[a], index[b]) for a, b in pairs]
    return [[names[i] for i in c] for c in components(len(names), edges)], seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-edit", type=int, default=2, help="copies of each edit per category")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 train folder (sky photos)")
    ap.add_argument("--strictness", nargs="+", default=["normal", "strict", "loose"])
    ap.add_argument("--imagededup", action="store_true", help="also score imagededup's PHash")
    ap.add_argument("--keep-folder", type=Path, help="build the folder here and keep it")
    ap.add_argument("--out", type=Path, help="write the full report (JSON) here")
    args = ap.parse_args()

    from lookalike.dedup import find_duplicates

    work = args.keep_folder or Path(tempfile.mkdtemp(prefix="lookalike-copies-"))
    runs: dict[str, Any] = {}
    ok = True
    try:
        t0 = time.perf_counter()
        planted = hard_negatives.build(
            work,
            cifar=args.data if args.data.is_dir() else None,
            edits=planted_edits.EDITS,
            per_edit=args.per_edit,
            seed=args.seed,
        )
        originals = sum(p.kind == "original" for p in planted)
        print(
            f"{len(planted)} files ({originals} originals, {len(planted) - originals} copies) "
            f"built in {time.perf_counter() - t0:.1f} s"
        )
        for name in args.strictness:
            t0 = time.perf_counter()
            result = find_duplicates(work, strictness=name)
            seconds = time.perf_counter() - t0
            report = score([g.paths for g in result.groups], [g.keeper for g in result.groups], planted)
            report |= {
                "seconds": round(seconds, 1),
                "stats": result.stats,
                "relations": relations(result, planted),
            }
            runs[name] = report
            low = {k: v for k, v in report["recall"].items() if v < TARGETS["recall"]}
            passed = (
                not low and report["distinct_pairs"] == 0 and report["keeper"]["share"] >= TARGETS["keeper"]
            )
            if name == "normal":
                ok &= passed
            print(
                f"{name:7} {seconds:6.1f} s  recall {report['recall_all']:.4f} "
                f"(below 0.95: {low or 'none'})  "
                f"distinct pairs {report['distinct_pairs']} {report['distinct_by_category'] or ''}  "
                f"keeper {report['keeper']['original_kept']}/"
                f"{report['keeper']['original_kept'] + report['keeper']['other_kept']}  "
                f"{'ok' if passed else 'MISSED'}"
            )
            print(f"        recall by edit: {report['recall']}")
        if args.imagededup:
            found = phash_groups(work)
            if found is None:
                print("imagededup is not importable here; install it in a scratch environment to compare")
            else:
                groups, seconds = found
                report = score(groups, [g[0] for g in groups], planted)
                report["seconds"] = round(seconds, 1)
                runs["imagededup-phash"] = report
                print(
                    f"PHash   {seconds:6.1f} s  recall {report['recall_all']:.4f}  distinct pairs "
                    f"{report['distinct_pairs']} {report['distinct_by_category']}"
                )
                print(f"        recall by edit: {report['recall']}")
    finally:
        if args.keep_folder is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.out is not None:
        out = {
            "suite": "copies",
            "files": len(planted),
            "seed": args.seed,
            "machine": cpu_info(),
            "runs": runs,
        }
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
