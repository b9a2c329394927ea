"""Time and memory of ``lookalike dedup`` on large folders, against a baseline checkout (issue 18).

Two suites:

* ``--suite scale`` — builds folders of CIFAR-10 JPEGs (``10k``: the first 1,000 of each class; ``60k``:
  all 50,000 training images plus 10,000 planted copies of random ones — JPEG quality 30, 50% size, a
  quarter turn, a crop keeping 77% of the area, brightness +12%, 2,000 each — standing in for the 10,000
  test images, which are not on these machines) and runs ``lookalike dedup FOLDER --json FILE`` in a fresh
  process for this checkout and, with ``--baseline-src DIR`` (the ``src`` folder of another checkout, e.g.
  ``git worktree add /tmp/base <commit>``), for that one too, alternating. Wall time, peak RSS (the
  child's ``ru_maxrss``), the peak memory of the child and the workers it forks together (proportional
  set size, shared pages once: ``rss.TreeSampler``) and the groups each found are recorded.
* ``--suite groups`` — runs ``find_duplicates`` on CIFAR-10's training split (50,000 images) at each
  strictness, reports how many groups each finds, and draws a random sample of 40 groups of the default
  setting (keeper and one duplicate) into ``--png`` for a person to check.

Usage::

    python benchmarks/dedup_scale.py --suite scale --sizes 10k 60k --baseline-src /tmp/base/src --repeat 3
    python benchmarks/dedup_scale.py --suite groups --png docs/dedup-cifar-train.png
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

from hardware import cpu_info  # noqa: E402
from rss import TreeSampler  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10" / "train"
COPIES = ("jpeg30", "half", "turn", "crop", "bright")


def plant_copy(src: Path, kind: str, dst_stem: Path) -> None:
    """One planted copy of a CIFAR-10 image (see the module docstring)."""
    from PIL import Image, ImageEnhance

    with Image.open(src) as opened:
        img = opened.convert("RGB")
    if kind == "jpeg30":
        img.save(dst_stem.with_suffix(".jpg"), quality=30)
    elif kind == "half":
        img.resize((16, 16), Image.Resampling.BICUBIC).save(dst_stem.with_suffix(".png"))
    elif kind == "turn":
        img.transpose(Image.Transpose.ROTATE_90).save(dst_stem.with_suffix(".png"))
    elif kind == "crop":
        img.crop((2, 2, 30, 30)).save(dst_stem.with_suffix(".png"))
    else:
        ImageEnhance.Brightness(img).enhance(1.12).save(dst_stem.with_suffix(".png"))


def build(data: Path, size: str, folder: Path, seed: int) -> int:
    """The ``10k`` or ``60k`` folder (see the module docstring); returns its file count."""
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(data.rglob("*.jpg"))
    picked = files if size == "60k" else [f for f in files if int(f.stem) < 1000]
    for f in picked:
        shutil.copyfile(f, folder / f"{f.parent.name}-{f.stem}.jpg")
    n = len(picked)
    if size == "60k":
        rng = random.Random(seed)
        for j, f in enumerate(rng.sample(files, 10_000)):
            plant_copy(f, COPIES[j % len(COPIES)], folder / f"copy-{j:05d}")
        n += 10_000
    return n


def run_dedup(folder: Path, src: Path | None, out: Path) -> dict[str, Any]:
    """``lookalike dedup FOLDER --json OUT`` in a fresh process (``src`` first on its path); wall time, the
    child's peak RSS and what it found."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    code = "import sys; from lookalike.cli import main; sys.argv = ['lookalike', *sys.argv[1:]]; main()"
    cmd = [sys.executable, "-c", code, "dedup", str(folder), "--json", str(out)]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        with TreeSampler(child.pid) as tree:  # (it and the workers it forks, shared pages once)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, not the largest so far
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if child.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip()[-500:]
            raise SystemExit(f"dedup failed ({src or 'this checkout'}): {tail}")
    data = json.loads(out.read_text())
    return {
        "wall_s": round(wall, 1),
        "work_s": data["seconds"],
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "peak_tree_pss_mb": round(tree.peak / 1024),
        "groups": len(data["groups"]),
        "duplicates": data["duplicates"],
    }


def scale_suite(args: argparse.Namespace) -> int:
    rows = []
    for size in args.sizes:
        work = Path(tempfile.mkdtemp(prefix=f"lookalike-scale-{size}-"))
        try:
            n = build(args.data, size, work / "images", args.seed)
            sides = [("baseline", args.baseline_src)] if args.baseline_src else []
            sides.append(("this", None))
            for name, src in sides * args.repeat:  # alternating, so both sides see the same noise
                r = run_dedup(work / "images", src, work / f"{name}.json")
                rows.append({"size": size, "images": n, "side": name, **r})
                print(
                    f"{size:>4} {n:,} images  {name:8} wall {r['wall_s']:6.1f} s  work {r['work_s']:6.1f} s  "
                    f"peak RSS {r['peak_rss_mb']} MB (with its workers {r['peak_tree_pss_mb']} MB)  "
                    f"groups {r['groups']:,}  duplicates {r['duplicates']:,}"
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    result = {"suite": "scale", "machine": cpu_info(), "runs": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def groups_suite(args: argparse.Namespace) -> int:
    from lookalike.dedup import STRICTNESS, find_duplicates

    counts: dict[str, Any] = {}
    default = None
    for name in args.strictness or list(STRICTNESS):
        t0 = time.perf_counter()
        result = find_duplicates(args.data, strictness=name)
        counts[name] = {
            "groups": len(result.groups),
            "duplicates": result.duplicates,
            "seconds": round(time.perf_counter() - t0, 1),
            "kinds": _kinds(result),
        }
        print(f"{name:7} {counts[name]}")
        if name == "normal":
            default = result
    if default is not None and args.png is not None:
        draw_sample(default, args.png, random.Random(args.seed), 40)
    if args.out:
        args.out.write_text(json.dumps({"suite": "groups", "machine": cpu_info(), "runs": counts}, indent=2))
    return 0


def _kinds(result: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for g in result.groups:
        for m in g.duplicates:
            out[m.kind] = out.get(m.kind, 0) + 1
    return out


def draw_sample(result: Any, path: Path, rng: random.Random, n: int) -> Path:
    """``n`` random groups (keeper, then its first duplicate with the relation), five pairs a row."""
    from lookalike.report import Tile, TileRow, plot_tile_rows

    picks = rng.sample(result.groups, min(n, len(result.groups)))
    rows = []
    for start in range(0, len(picks), 5):
        tiles: list[Tile] = []
        for g in picks[start : start + 5]:
            dup = g.duplicates[0]
            tiles.append(Tile(g.keeper, "keeper", f"{g.keeper.name}"))
            tiles.append(Tile(dup.path, f"{dup.kind} · ssim {dup.ssim:.2f}", f"{dup.path.name}"))
        rows.append(TileRow(f"groups {start + 1}–{start + len(picks[start : start + 5])}", tiles))
    title = f"{len(picks)} random groups of {len(result.groups)} found in CIFAR-10's training split (normal)"
    return plot_tile_rows(rows, path, title=title, thumb=64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("scale", "groups"), default="scale")
    ap.add_argument("--sizes", nargs="+", choices=("10k", "60k"), default=["10k", "60k"])
    ap.add_argument("--baseline-src", type=Path, help="the src folder of a baseline checkout")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 train folder")
    ap.add_argument("--strictness", nargs="+", help="groups suite: the settings to run (default all)")
    ap.add_argument("--png", type=Path, help="groups suite: draw 40 random groups here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="scale suite: runs of each side, alternating")
    ap.add_argument("--out", type=Path, help="write the report (JSON) here")
    args = ap.parse_args()
    return scale_suite(args) if args.suite == "scale" else groups_suite(args)


if __name__ == "__main__":
    raise SystemExit(main())
