"""Review (issue 21): how fast the group review endpoints of ``lookalike serve`` answer on a 10,000-image
index, once the groups are computed.

Target (2-core CPU): **p95 < 100 ms** for each group review endpoint, measured at the client as in
``benchmarks/serve.py`` ("Web"): ``lookalike serve --move-to DIR`` started in a subprocess as a user starts
it, one client on 127.0.0.1 (keep-alive) sending one request at a time.

The collection: the first ``--images`` (10,000) real CIFAR-10 JPEGs of ``../shared/datasets/cifar10/train``
copied into a scratch folder, with ``--planted`` of them given copies (JPEG quality 50, mirror image, 2×
enlargement as PNG, in turn), indexed with the shared ResNet-18. Then ``POST /api/duplicates`` and wait.
Measured, each ``--n`` times on random groups:

* ``list groups`` — ``GET /api/duplicates`` (every group with its members and decisions applied);
* ``one group`` — ``GET /api/duplicates/groups/{gid}``;
* ``choose keeper`` — ``POST …/keeper`` with another member (the first choice of a group checks its other
  members against the new keeper; the number reports both the first and the repeated choice);
* ``mark not duplicates`` / ``forget`` — ``POST /api/decisions`` and ``POST /api/decisions/forget``;
* ``views`` — ``GET …/members/{id}/keeper|member|difference`` (made, then cached);
* ``move one group`` / ``undo`` — one group's duplicates moved (``POST /api/moves`` until done) and put
  back: files touch the disk, reported apart from the target.

Usage::

    python benchmarks/review.py                         # build the scratch collection once, measure
    python benchmarks/review.py --images 2000 --n 50    # a quick run
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from hardware import cpu_info, print_result  # noqa: E402
from serve import CIFAR, WEIGHTS, percentiles, timed  # noqa: E402
from web_support import AUTH, serve  # noqa: E402

TARGET_P95_MS = 100.0


def build(folder: Path, images: int, planted: int) -> Path:
    """The scratch collection and its index (kept between runs; made again when the sizes differ)."""
    stamp = folder / "made.json"
    wanted = {"images": images, "planted": planted}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return folder / ".lookalike"
    shutil.rmtree(folder, ignore_errors=True)
    photos = folder
    sources = sorted(p for c in sorted(CIFAR.iterdir()) for p in sorted(c.iterdir())[: images // 10 + 1])
    sources = sources[: images - planted]
    for src in sources:
        target = photos / src.parent.name / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    copies = photos / "copies"
    copies.mkdir()
    rng = np.random.default_rng(0)
    for n, i in enumerate(rng.choice(len(sources), planted, replace=False)):
        with Image.open(sources[int(i)]) as img:
            rgb = img.convert("RGB")
        name = f"{sources[int(i)].parent.name}-{sources[int(i)].stem}"
        if n % 3 == 0:
            rgb.save(copies / f"{name}-q50.jpg", quality=50)
        elif n % 3 == 1:
            ImageOps.mirror(rgb).save(copies / f"{name}-mirrored.png")
        else:
            rgb.resize((64, 64), Image.Resampling.BICUBIC).save(copies / f"{name}-large.png")
    print(f"indexing {images:,} images in {photos}…", flush=True)
    cmd = [sys.executable, "-m", "lookalike", "index", str(photos), "--weights", str(WEIGHTS)]
    subprocess.run(cmd, check=True)
    stamp.write_text(json.dumps(wanted))
    return photos / ".lookalike"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=ROOT / ".data" / "review-cifar10k")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--planted", type=int, default=300)
    parser.add_argument("--n", type=int, default=200, help="requests per endpoint (default 200)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    import httpx

    index = build(args.folder, args.images, args.planted)
    dest = args.folder.parent / (args.folder.name + "-moved")
    shutil.rmtree(dest, ignore_errors=True)
    (index / "decisions.db").unlink(missing_ok=True)
    results: dict[str, Any] = {"machine": cpu_info(), "python": platform.python_version()}
    rng = np.random.default_rng(1)
    with (
        serve(index, "--move-to", str(dest), timeout=300) as url,
        httpx.Client(base_url=url, timeout=120, headers=AUTH) as c,
    ):
        started = time.perf_counter()
        c.post("/api/duplicates").raise_for_status()
        while (d := c.get("/api/duplicates").json())["state"] == "working":
            time.sleep(0.5)
        assert d["state"] == "done", d
        results["groups"] = {
            "images": d["images"],
            "groups": len(d["groups"]),
            "duplicates": d["duplicates"],
            "computed_s": round(time.perf_counter() - started, 1),
        }
        print(f"{url}: {results['groups']}", flush=True)
        groups = d["groups"]
        version = d["version"]

        def ok(r: httpx.Response) -> httpx.Response:
            r.raise_for_status()
            return r

        for _ in range(10):  # connections and caches
            ok(c.get("/api/duplicates"))
        ms, _ = timed(lambda: ok(c.get("/api/duplicates")), args.n)
        results["list groups"] = percentiles(ms)
        picks = iter(rng.choice(len(groups), args.n).tolist())
        ms, _ = timed(lambda: ok(c.get(f"/api/duplicates/groups/{groups[next(picks)]['id']}")), args.n)
        results["one group"] = percentiles(ms)

        # choose another keeper of a group, then the rule's keeper again (first choice: members checked)
        chosen = [groups[int(i)] for i in rng.choice(len(groups), min(args.n, len(groups)), replace=False)]
        first, again = [], []
        for g in chosen:
            other, rule = g["members"][1]["id"], g["members"][0]["id"]
            for keeper, bucket in ((other, first), (rule, again), (other, again), (rule, again)):
                start = time.perf_counter()
                ok(
                    c.post(
                        f"/api/duplicates/groups/{g['id']}/keeper", json={"id": keeper, "version": version}
                    )
                )
                bucket.append((time.perf_counter() - start) * 1000)
        results["choose keeper (first time)"] = percentiles(first)
        results["choose keeper (again)"] = percentiles(again)

        pairs = [
            (g["members"][0]["id"], g["members"][1]["id"])
            for g in chosen
            if g["members"][1]["kind"] != "exact"
        ]
        marked, forgotten = [], []
        for a, b in pairs:
            start = time.perf_counter()
            decision = ok(c.post("/api/decisions", json={"a": a, "b": b})).json()
            marked.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            ok(c.post("/api/decisions/forget", json={"a": decision["a"], "b": decision["b"]}))
            forgotten.append((time.perf_counter() - start) * 1000)
        results["mark not duplicates"] = percentiles(marked)
        results["forget"] = percentiles(forgotten)

        made, cached = [], []
        for g in chosen:
            member = g["members"][1]["id"]
            for view in ("keeper", "member", "difference"):
                for bucket in (made, cached):
                    start = time.perf_counter()
                    ok(c.get(f"/api/duplicates/groups/{g['id']}/members/{member}/{view}"))
                    bucket.append((time.perf_counter() - start) * 1000)
        results["view (made)"] = percentiles(made)
        results["view (cached)"] = percentiles(cached)

        moved, undone = [], []
        for g in chosen[:20]:
            start = time.perf_counter()
            ok(c.post("/api/moves", json={"groups": [g["id"]], "version": version}))
            while (m := c.get("/api/moves").json())["state"] == "working":
                time.sleep(0.005)
            moved.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            ok(c.post("/api/moves/undo", json={"log": m["log"]}))
            while c.get("/api/moves").json()["state"] == "working":
                time.sleep(0.005)
            undone.append((time.perf_counter() - start) * 1000)
        results["move one group"] = percentiles(moved)
        results["undo one group"] = percentiles(undone)
    review = [
        k
        for k in results
        if isinstance(results[k], dict) and "p95" in results[k] and not k.startswith(("move", "undo"))
    ]
    results["target"] = {k: results[k]["p95"] < TARGET_P95_MS for k in review}
    print_result(results, args.out)


if __name__ == "__main__":
    main()
