"""Search: copy marks — what the fine check costs on a search's hits, and why no cosine floor decides which
hits to check.

Three measurements, on this machine's CPU:

1. **One check** — :func:`lookalike.dedup.verify_pair` (both files read, coarse check, fine check and
   close-up) on two CIFAR-10 JPEGs (a JPEG-30 copy, a quarter-turned copy, another cat) and on two
   2000×1500 photos (scikit-image's ``coffee`` and ``chelsea`` enlarged, with grain, JPEG 92; a JPEG-30
   copy, a copy turned 90° clockwise saved as JPEG 85, the other photo): the median of several runs.
2. **Cosines of copies** — 200 CIFAR-10 images a class (2,000) and, of the first 5 of each class, planted
   copies (``tests/planted_edits.py``: JPEG 30, quarter and half turns, mirror, 5% crop, a white frame, a
   black letterbox, 25%–50% size), indexed with the shared ResNet-18; for each original the cosine and
   rank of each of its copies, and the cosine of the tenth hit that is not one of its copies. Whether a
   cosine floor could leave hits out without losing copies.
3. **Marks on real searches** — for each original, a search (k = 10) and
   :func:`lookalike.dedup.mark_copies` on its hits: the time added to a search (median, p95), copies shown
   and marked, hits marked that are not planted copies; and ``mark_copies`` on 12 photo hits (4 JPEG-30
   copies, 4 turned copies, 4 other photos; and 12 other photos) on 1, 2 and 4 threads.

Usage::

    python benchmarks/search_copies.py                 # about a minute on 2 cores
    python benchmarks/search_copies.py --per-class 100 --out copies.json
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import planted_edits  # noqa: E402
from hardware import cpu_info, print_result  # noqa: E402

SHARED = ROOT.parent / "shared"
CIFAR = SHARED / "datasets" / "cifar10" / "train"
WEIGHTS = SHARED / "models" / "resnet18-cifar10.pt"
EDITS = ("jpeg30", "rot90", "rot270", "rot180", "mirror", "crop5", "frame", "letterbox", "small")


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 2)


def photo(name: str, seed: int) -> Image.Image:
    """A scikit-image photo enlarged to 2000×1500 with grain (σ 3 levels)."""
    import skimage.data

    a = np.asarray(getattr(skimage.data, name)())[..., :3]
    img = Image.fromarray(a).resize((2000, 1500), Image.Resampling.BICUBIC)
    noisy = np.asarray(img, np.float32) + np.random.default_rng(seed).normal(0, 3, (1500, 2000, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def one_check(tmp: Path) -> dict[str, Any]:
    from lookalike.dedup import verify_pair

    cat = CIFAR / "cat" / "0000.jpg"
    with Image.open(cat) as img:
        img.save(tmp / "cat-q30.jpg", quality=30)
        img.transpose(Image.Transpose.ROTATE_90).save(tmp / "cat-rot90.png")
    coffee, chelsea = photo("coffee", 0), photo("chelsea", 1)
    coffee.save(tmp / "coffee.jpg", quality=92)
    chelsea.save(tmp / "chelsea.jpg", quality=92)
    coffee.save(tmp / "coffee-q30.jpg", quality=30)
    coffee.transpose(Image.Transpose.ROTATE_270).save(tmp / "coffee-cw.jpg", quality=85)
    pairs = {
        "cifar: JPEG-30 copy": (cat, tmp / "cat-q30.jpg", 15),
        "cifar: quarter-turned copy": (cat, tmp / "cat-rot90.png", 15),
        "cifar: another cat": (cat, CIFAR / "cat" / "0001.jpg", 15),
        "2000x1500: JPEG-30 copy": (tmp / "coffee.jpg", tmp / "coffee-q30.jpg", 5),
        "2000x1500: turned copy": (tmp / "coffee.jpg", tmp / "coffee-cw.jpg", 5),
        "2000x1500: another photo": (tmp / "coffee.jpg", tmp / "chelsea.jpg", 5),
    }
    out = {}
    for name, (a, b, runs) in pairs.items():
        duplicate = verify_pair(a, b).duplicate
        out[name] = {"ms": median_ms(lambda a=a, b=b: verify_pair(a, b), runs), "duplicate": duplicate}
        print(f"  {name}: {out[name]}", file=sys.stderr)
    return out


def photo_marks(tmp: Path) -> dict[str, Any]:
    from lookalike.dedup import mark_copies

    mixed = [tmp / "coffee-q30.jpg", tmp / "coffee-cw.jpg", tmp / "chelsea.jpg"] * 4
    others = [tmp / "chelsea.jpg"] * 12
    out: dict[str, Any] = {}
    for name, hits in (("12 hits: 8 copies, 4 others", mixed), ("12 hits: no copy", others)):
        marks = mark_copies(tmp / "coffee.jpg", hits, budget=None)
        out[name] = {
            "marked": sum(bool(m.copy) for m in marks),
            **{
                f"ms_{w}_threads": median_ms(
                    lambda w=w, hits=hits: mark_copies(tmp / "coffee.jpg", hits, budget=None, workers=w), 3
                )
                for w in (1, 2, 4)
            },
        }
        print(f"  {name}: {out[name]}", file=sys.stderr)
    t = time.perf_counter()
    marks = mark_copies(tmp / "coffee.jpg", mixed, budget=0.3)
    out["12 hits, budget 0.3 s"] = {
        "ms": round((time.perf_counter() - t) * 1000, 1),
        "checked": sum(m.copy is not None for m in marks),
    }
    return out


def build_collection(folder: Path, per_class: int, originals: int) -> list[str]:
    """``per_class`` CIFAR-10 images a class and planted copies of the first ``originals`` of each; returns
    the originals' paths relative to ``folder``."""
    rng = random.Random(0)
    queries = []
    (folder / "copies").mkdir(parents=True)
    for cls in sorted(p.name for p in CIFAR.iterdir()):
        (folder / cls).mkdir()
        files = sorted((CIFAR / cls).iterdir())[:per_class]
        for f in files:
            shutil.copyfile(f, folder / cls / f.name)
        for f in files[:originals]:
            queries.append(f"{cls}/{f.name}")
            with Image.open(f) as img:
                original = img.convert("RGB")
            for edit in EDITS:
                edited, fmt, options = planted_edits.apply(edit, original, rng, source_fmt="jpeg")
                planted_edits.save(edited, folder / "copies" / f"{cls}-{f.stem}-{edit}", fmt, options)
    return queries


def cosines_and_marks(tmp: Path, per_class: int, originals: int, k: int) -> dict[str, Any]:
    from lookalike.collection import Index, index_folder
    from lookalike.dedup import mark_copies
    from lookalike.features import Embedder

    folder = tmp / "collection"
    queries = build_collection(folder, per_class, originals)
    t = time.perf_counter()
    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    report = index_folder(folder, embedder)
    print(f"  indexed {report.images} images in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    per_edit: dict[str, list[tuple[int, float]]] = {e: [] for e in EDITS}
    tenth: list[float] = []
    added: list[float] = []
    shown = marked = wrong = unchecked = 0
    with Index.open(report.location) as idx:
        for q in queries:
            cls, name = q.split("/")
            own = f"copies/{cls}-{name[:-4]}-"
            everything = idx.search(folder / q, k=idx.count)
            for h in everything.hits:
                if h.relpath.startswith(own):
                    per_edit[h.relpath[len(own) :].split(".")[0]].append((h.rank, h.score))
            tenth.append([h.score for h in everything.hits if not h.relpath.startswith(own)][9])
            hits = idx.search(folder / q, k=k).hits
            t = time.perf_counter()
            marks = mark_copies(folder / q, hits)
            added.append(time.perf_counter() - t)
            for h, m in zip(hits, marks, strict=True):
                unchecked += m.copy is None
                if h.relpath.startswith(own):
                    shown += 1
                    marked += bool(m.copy)
                elif m.copy:
                    wrong += 1
                    print(f"  marked, not planted: {q} → {h.relpath} ({m.relation})", file=sys.stderr)
    edits = {}
    for edit, found in per_edit.items():
        ranks = np.array([r for r, _ in found])
        cos = np.array([c for _, c in found])
        edits[edit] = {
            "cosine_min": round(float(cos.min()), 3),
            "cosine_p10": round(float(np.percentile(cos, 10)), 3),
            "cosine_median": round(float(np.median(cos)), 3),
            "rank_median": int(np.median(ranks)),
            "in_top_10": round(float(np.mean(ranks <= 10)), 2),
        }
    added_ms = np.array(added) * 1000
    return {
        "images": report.images,
        "originals": len(queries),
        "copies_by_edit": edits,
        "tenth_other_hit_cosine": {
            "min": round(min(tenth), 3),
            "median": round(float(np.median(tenth)), 3),
            "max": round(max(tenth), 3),
        },
        "marks_k": k,
        "marks_ms_median": round(float(np.median(added_ms)), 1),
        "marks_ms_p95": round(float(np.percentile(added_ms, 95)), 1),
        "planted_copies_shown": shown,
        "planted_copies_marked": marked,
        "other_hits_marked": wrong,
        "hits_unchecked": unchecked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--originals", type=int, default=5, help="Originals with planted copies, per class.")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print("one check (verify_pair):", file=sys.stderr)
        checks = one_check(tmp)
        print("mark_copies on photo hits:", file=sys.stderr)
        photos = photo_marks(tmp)
        print("cosines of copies, marks on searches:", file=sys.stderr)
        searches = cosines_and_marks(tmp, args.per_class, args.originals, args.k)
    result = {"machine": cpu_info(), "one_check": checks, "photo_marks": photos, "searches": searches}
    print_result(result, args.out)


if __name__ == "__main__":
    main()
