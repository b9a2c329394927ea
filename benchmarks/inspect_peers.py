"""Inspect beside its peers (issue 22): precision and recall per kind of ``lookalike inspect``, cleanvision
and fastdup on the same folder with planted problems (tests/planted_issues.py, the folder of
``inspect_planted.py``: seed 0, 4 planted files of each kind, 30 images a class).

The peers are never dependencies of lookalike: they run from a scratch environment outside the repository,
offline, so the script has three steps, each run with the Python that has what it needs::

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install cleanvision fastdup
    .venv/bin/python benchmarks/inspect_peers.py --plant /tmp/pb/data     # writes data/truth.json
    /tmp/peers/bin/python benchmarks/inspect_peers.py --peers /tmp/pb/data  # writes data/peers.json
    .venv/bin/python benchmarks/inspect_peers.py --score /tmp/pb/data     # runs ours, prints the table

* cleanvision: ``Imagelab(data_path=DIR).find_issues()`` with its defaults (every issue type it runs by
  default); an image is a finding of a kind when its ``is_<kind>_issue`` column is true. Its kinds have
  our names (exact_duplicates, near_duplicates, blurry, dark, light, low_information, grayscale, odd_size,
  odd_aspect_ratio).
* fastdup: ``fastdup.create(work_dir, input_dir).run()`` with its defaults and the model that ships in its
  wheel. Duplicates are the pairs of its similarity file (cosine similarity >= its ``threshold`` 0.9): a pair
  at >= 0.99 (what its log calls "fully identical") makes both files ``exact_duplicates``, below that
  ``near_duplicates``. Outliers are the rows of its outliers file (the bottom ``lower_threshold`` 5 % of
  nearest-neighbour similarity). Blurry, dark and light are its image statistics under the thresholds of its
  own ``summary()``: blur (variance of the Laplacian) < 150, mean < 4, mean > 253.

Scoring is ``inspect_planted.score``: a finding counts when it is on a planted file of its kind or, for a
planted duplicate or conflict, on the file it was made from; every other finding is a false one. Neither
peer has leaks or label conflicts; their duplicate findings on a planted leak or conflict (the copy or its
source) count as false duplicates in the table, and are counted apart beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
# Kind names as in lookalike.inspection.findings.KINDS, which the score step imports (the peers' step runs
# without lookalike).
DUPLICATE_KINDS = ("exact_duplicates", "near_duplicates")
FASTDUP_KINDS = ("exact_duplicates", "near_duplicates", "outlier", "blurry", "dark", "light")
FASTDUP_IDENTICAL = 0.99  # fastdup's log: "fully identical images (d>0.990)"
FASTDUP_SUMMARY = {"blur": 150.0, "dark_mean": 4.0, "light_mean": 253.0}  # FastdupController.summary()
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


class Row(NamedTuple):
    """One finding: a file and a kind (what ``score`` reads of a finding)."""

    path: Path
    kind: str


# ---------------------------------------------------------------------------------------------- plant


def _leak_sources(folder: Path, truth: dict[Path, set[str]]) -> dict[Path, Path]:
    """The training image each planted leak was made from: the picture of the same class and size
    nearest to it in pixels (planted_issues records no source for leaks; a leak is a JPEG-60 save of it)."""
    import numpy as np
    from PIL import Image

    def pixels(path: Path) -> Any:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), np.float32)

    out: dict[Path, Path] = {}
    for leak in (p for p, kinds in truth.items() if "leak" in kinds):
        target = pixels(leak)
        best: tuple[float, Path] | None = None
        for candidate in sorted((folder / "train" / leak.parent.name).glob("*.png")):
            a = pixels(candidate)
            if a.shape == target.shape:
                err = float(np.abs(a - target).mean())
                if best is None or err < best[0]:
                    best = (err, candidate)
        if best is not None:
            out[leak] = best[1]
    return out


def plant_folder(folder: Path, seed: int, per_class: int, per_kind: int) -> None:
    """Plant the folder and write ``truth.json``: each planted file (relative) with its kinds, and the file
    each planted duplicate, conflict and leak was made from."""
    sys.path.insert(0, str(ROOT / "tests"))
    from planted_issues import pairs_of, plant

    truth = plant(folder, seed=seed, per_class=per_class, per_kind=per_kind)

    def rel(path: Path) -> str:
        return path.relative_to(folder).as_posix()

    doc = {
        "seed": seed,
        "per_class": per_class,
        "per_kind": per_kind,
        "images": sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES),
        "files": {rel(p): sorted(k) for p, k in sorted(truth.items())},
        "pairs": {rel(p): rel(q) for p, q in sorted(pairs_of(truth).items())},
        "leak_sources": {rel(p): rel(q) for p, q in sorted(_leak_sources(folder, truth).items())},
    }
    (folder / "truth.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"planted {len(truth)} files of {doc['images']} images in {folder}")


# ---------------------------------------------------------------------------------------------- peers


def _relative(name: str, folder: Path) -> str:
    """A peer's file name (absolute, or relative to the working directory) relative to ``folder``."""
    path = Path(name)
    path = path if path.is_absolute() else Path.cwd() / path
    return path.resolve().relative_to(folder.resolve()).as_posix()


def run_cleanvision(folder: Path) -> dict[str, Any]:
    """cleanvision's Imagelab with its defaults: the rows of each kind it flags, its kinds those it ran (an
    ``is_<kind>_issue`` column each)."""
    from importlib.metadata import version

    from cleanvision import Imagelab

    started = time.perf_counter()
    lab = Imagelab(data_path=str(folder), verbose=False)
    lab.find_issues(verbose=False)
    seconds = time.perf_counter() - started
    issues = lab.issues
    kinds = [
        c.removeprefix("is_").removesuffix("_issue")
        for c in issues.columns
        if c.startswith("is_") and c.endswith("_issue")
    ]
    rows = []
    for kind in kinds:
        for path in issues.index[issues[f"is_{kind}_issue"].astype(bool)]:
            rows.append({"path": _relative(str(path), folder), "kind": kind})
    return {
        "version": version("cleanvision"),
        "seconds": round(seconds, 1),
        "images": len(issues),
        "kinds": kinds,
        "rows": rows,
    }


def run_fastdup(folder: Path) -> dict[str, Any]:
    """fastdup with its defaults and bundled model: similarity pairs, outliers, and its summary's blur,
    dark and bright thresholds on its image statistics."""
    import tempfile
    from importlib.metadata import version

    os.environ["SENTRY_OPT_OUT"] = "1"  # fastdup's crash and usage reports: off (and offline anyway)
    import fastdup

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fastdup-work-") as work:
        started = time.perf_counter()
        fd = fastdup.create(work_dir=work, input_dir=str(folder))
        fd.run(overwrite=True, verbose=False)
        similarity = fd.similarity()
        outliers = fd.outliers()
        stats = fd.img_stats()
        seconds = time.perf_counter() - started
        images = fd.num_instances(valid_only=False)
    if similarity is not None and not similarity.empty:
        for a, b, sim in zip(
            similarity["filename_from"], similarity["filename_to"], similarity["distance"], strict=True
        ):
            kind = "exact_duplicates" if sim >= FASTDUP_IDENTICAL else "near_duplicates"
            for name in (a, b):
                rows.append({"path": _relative(name, folder), "kind": kind, "score": round(float(sim), 4)})
    if outliers is not None and not outliers.empty:
        for name, sim in zip(outliers["filename_outlier"], outliers["distance"], strict=True):
            rows.append({"path": _relative(name, folder), "kind": "outlier", "score": round(float(sim), 4)})
    checks = (
        ("blurry", stats["blur"] < FASTDUP_SUMMARY["blur"]),
        ("dark", stats["mean"] < FASTDUP_SUMMARY["dark_mean"]),
        ("light", stats["mean"] > FASTDUP_SUMMARY["light_mean"]),
    )
    for kind, flagged in checks:
        for name in stats["filename"][flagged]:
            rows.append({"path": _relative(name, folder), "kind": kind})
    unique = {(r["path"], r["kind"]): r for r in rows}  # a pair is listed both ways
    # Where the planted stats rank, by fastdup's own measure (for the notes: the thresholds aside).
    ranks = {
        "blur_ascending": {
            _relative(n, folder): int(r)
            for n, r in zip(stats["filename"], stats["blur"].rank(method="min"), strict=True)
        },
        "mean_ascending": {
            _relative(n, folder): int(r)
            for n, r in zip(stats["filename"], stats["mean"].rank(method="min"), strict=True)
        },
    }
    return {
        "version": version("fastdup"),
        "seconds": round(seconds, 1),
        "images": int(images),
        "kinds": list(FASTDUP_KINDS),
        "settings": {
            "threshold": 0.9,
            "lower_threshold": 0.05,
            "identical": FASTDUP_IDENTICAL,
            **FASTDUP_SUMMARY,
        },
        "rows": list(unique.values()),
        "ranks": ranks,
    }


def run_peers(folder: Path) -> None:
    """Both peers on ``folder``; their rows go to ``peers.json``."""
    folder = folder.resolve()
    out = {"cleanvision": run_cleanvision(folder), "fastdup": run_fastdup(folder)}
    (folder / "peers.json").write_text(json.dumps(out, indent=1) + "\n")
    for name, peer in out.items():
        print(f"{name} {peer['version']}: {len(peer['rows'])} findings in {peer['seconds']} s")


# ---------------------------------------------------------------------------------------------- score


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    p = "–" if row["precision"] is None else f"{row['precision']:.2f}"
    r = "–" if row["recall"] is None else f"{row['recall']:.2f}"
    return f"{p} / {r} ({row['found']})"


def _pair_files(truth: dict[str, Any], folder: Path) -> dict[Path, Path]:
    """Planted leak and conflict copies, each with the file it was made from."""
    out = {folder / a: folder / b for a, b in truth["leak_sources"].items()}
    for path, kinds in truth["files"].items():
        if "label_conflict" in kinds:
            out[folder / path] = folder / truth["pairs"][path]
    return out


def _duplicates_on_pairs(rows: Iterable[Row], pairs: dict[Path, Path]) -> dict[str, Any]:
    """A tool's duplicate findings on planted leak / conflict files: how many files, and how many of the
    pairs have a finding on either file."""
    flagged = {r.path for r in rows if r.kind in DUPLICATE_KINDS}
    files = set(pairs) | set(pairs.values())
    return {
        "files": len(flagged & files),
        "pairs": sum(1 for a, b in pairs.items() if a in flagged or b in flagged),
    }


def score_all(folder: Path, out: Path | None) -> None:
    """Run ours on ``folder``, score ours and the peers' rows, print the table and the JSON."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from hardware import cpu_info, cpu_line, print_result
    from inspect_planted import score
    from lookalike.features import Embedder
    from lookalike.inspection import KINDS, inspect_folder
    from shared_data import WEIGHTS

    folder = folder.resolve()
    truth_doc = json.loads((folder / "truth.json").read_text())
    peers = json.loads((folder / "peers.json").read_text())
    truth = {folder / p: set(k) for p, k in truth_doc["files"].items()}
    pairs = _pair_files(truth_doc, folder)
    pair_files = set(pairs) | set(pairs.values())

    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    started = time.perf_counter()
    report = inspect_folder(folder, embedder=embedder)
    seconds = time.perf_counter() - started

    tools: dict[str, dict[str, Any]] = {
        "lookalike": {
            "rows": [Row(f.path, f.kind) for f in report.findings],
            "kinds": list(KINDS),
            "seconds": round(seconds, 1),
            "images": report.images,
        }
    }
    for name, peer in peers.items():
        tools[name] = {
            "rows": [Row(folder / r["path"], r["kind"]) for r in peer["rows"]],
            "kinds": peer["kinds"],
            "seconds": peer["seconds"],
            "images": peer["images"],
            "version": peer["version"],
        }
    result: dict[str, Any] = {
        "machine": cpu_info(),
        "seed": truth_doc["seed"],
        "per_kind": truth_doc["per_kind"],
    }
    for name, tool in tools.items():
        per_kind = score(truth, tool["rows"])
        for kind, row in per_kind.items():
            row["missed"] = [str(Path(p).relative_to(folder)) for p in row["missed"]]
            row["false"] = [str(Path(p).relative_to(folder)) for p in row["false"]]
            if kind in DUPLICATE_KINDS and row["found"]:  # the false ones on a planted leak or conflict pair
                on_pairs = sum(1 for p in row["false"] if folder / p in pair_files)
                row["false_on_leak_or_conflict"] = on_pairs
                row["precision_counting_them"] = round(
                    (row["found"] - len(row["false"]) + on_pairs) / row["found"], 3
                )
        tool["score"] = {k: v for k, v in per_kind.items() if k in tool["kinds"]}
        tool["duplicates_on_leak_or_conflict"] = _duplicates_on_pairs(tool["rows"], pairs)
        result[name] = {k: v for k, v in tool.items() if k != "rows"}

    names = list(tools)
    print(f"\n{cpu_line()}")
    print("| kind | planted | " + " | ".join(f"{n} P / R (found)" for n in names) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in names) + " |")
    for kind in KINDS:
        planted = sum(1 for k in truth.values() if kind in k)
        cells = [_cell(tools[n]["score"].get(kind)) for n in names]
        print(f"| {kind} | {planted} | " + " | ".join(cells) + " |")
    print("| seconds | | " + " | ".join(str(tools[n]["seconds"]) for n in names) + " |")
    print()
    for name in names:
        dup = tools[name]["duplicates_on_leak_or_conflict"]
        counting = ", ".join(
            f"{k} {tools[name]['score'][k]['precision_counting_them']:.2f}"
            for k in DUPLICATE_KINDS
            if "precision_counting_them" in tools[name]["score"].get(k, {})
        )
        print(
            f"{name}: duplicate findings on {dup['files']} planted leak/conflict files ({dup['pairs']} of "
            f"{len(pairs)} pairs); precision if those count as right: {counting}"
        )
    print("images: " + ", ".join(f"{n} {tools[n]['images']}" for n in names))
    print_result(result, out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    step = parser.add_mutually_exclusive_group(required=True)
    step.add_argument("--plant", type=Path, metavar="DIR", help="plant DIR and write DIR/truth.json")
    step.add_argument("--peers", type=Path, metavar="DIR", help="run cleanvision and fastdup: DIR/peers.json")
    step.add_argument("--score", type=Path, metavar="DIR", help="run lookalike, score all three, print")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-kind", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--out", type=Path, help="with --score: write the JSON there too")
    args = parser.parse_args()
    if args.plant:
        if args.plant.exists() and any(args.plant.iterdir()):
            parser.error(f"{args.plant} is not empty")
        plant_folder(args.plant.resolve(), args.seed, args.per_class, args.per_kind)
    elif args.peers:
        run_peers(args.peers)
    else:
        score_all(args.score, args.out)


if __name__ == "__main__":
    main()
