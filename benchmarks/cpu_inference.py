"""CPU inference (issue 10): ONNX Runtime and the torch-free query path against the PyTorch path, same run.

Targets (2-core CPU), each a ratio measured in the same run:

* ``lookalike search FILE`` on a 2,000-image index (a file that is not in it): ≥ 5× faster wall time than
  the torch path (``--backend torch``: import torch, build the model, embed);
* ``lookalike compare A B --weights W``: ≥ 4× faster than ``--backend torch``;
* ``lookalike index`` throughput: ≥ 1.5× the PyTorch float32 path (``--backend torch --precision float32``)
  on CIFAR-10 JPEGs (32 px, CIFAR stem) and on 1024×768 JPEGs at 224 px (ImageNet stem); on the photos
  ≥ 3.3× the lecture's per-image float32 loop.

Stages (``--stages``, all by default):

* ``imports`` — ``import torch, torchvision`` against ``import onnxruntime`` in fresh processes;
* ``network`` — the ResNet-18 alone, batch 256 at 32 px (shared CIFAR model) and batch 32 at 224 px
  (ImageNet stem, seeded random weights): eager float32, the torch backend (BatchNorm folded,
  channels_last), ONNX Runtime (default threads), the torch backend in bfloat16 (lookalike's policy);
  images/s and the cosine of their vectors with eager float32;
* ``search``, ``compare`` — the CLI in fresh processes, as a user runs it, rounds alternating;
* ``index`` — ``lookalike index --rebuild`` on both folders, rounds alternating between the PyTorch float32
  path, ONNX Runtime and ``auto`` (:data:`INDEX_WAYS`), images/s from its JSON; the lecture's loop on the
  photos in this process.

Data, made once under ``.data/onnx-bench/`` (git-ignored): 2,000 CIFAR-10 JPEGs copied from ../shared (200
per class), 200 photos of 1024×768 (``benchmarks/embed.py``'s), a seeded random ResNet-18 saved as a file
(so the exported model is reused between runs, as it would be for real weights).

Usage::

    python benchmarks/cpu_inference.py --out cpu.json
    python benchmarks/cpu_inference.py --stages search,compare --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import make_photos  # the 1024×768 photos of the embedding benchmark
from hardware import cpu_info

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CIFAR = SHARED / "datasets" / "cifar10" / "train"
WEIGHTS = SHARED / "models" / "resnet18-cifar10.pt"
WORK = ROOT / ".data" / "onnx-bench"
STAGES = ("imports", "network", "search", "compare", "index")
TARGETS = {"search": 5.0, "compare": 4.0, "index": 1.5, "lecture": 3.3}


def machine() -> dict[str, Any]:
    import onnxruntime
    import torch

    info = cpu_info()
    return {
        **info,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "load_average": info["load_average"][0],
    }


def cli(*args: str) -> tuple[float, dict[str, Any]]:
    """``lookalike ARGS --json`` in a fresh process: (wall seconds, its JSON)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lookalike", *args, "--json"], capture_output=True, text=True, cwd=WORK
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"lookalike {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return seconds, json.loads(done.stdout)


def summary(values: list[float], *, higher_is_better: bool = False) -> dict[str, float]:
    best = max(values) if higher_is_better else min(values)
    return {"best": best, "median": statistics.median(values), "n": len(values)}


# ------------------------------------------------------------------------------------------------------
# Data


def cifar_folder(n_per_class: int = 200) -> Path:
    folder = WORK / "cifar2000"
    if not folder.is_dir():
        for d in sorted(p for p in CIFAR.iterdir() if p.is_dir()):
            (folder / d.name).mkdir(parents=True)
            for src in sorted(d.glob("*.jpg"))[:n_per_class]:
                shutil.copyfile(src, folder / d.name / src.name)
    return folder


def query_file() -> Path:
    """A CIFAR-10 cat that is not in the index."""
    target = WORK / "query.jpg"
    if not target.is_file():
        shutil.copyfile(sorted((CIFAR / "cat").glob("*.jpg"))[-1], target)
    return target


def photo_folder(n: int) -> Path:
    """``n`` photos of 1024×768 in a folder of their own (the index stage indexes the whole folder)."""
    folder = WORK / f"photos-{n}"
    make_photos(folder, n)
    return folder


def random_weights() -> Path:
    """A seeded random ResNet-18 (ImageNet stem) as a file: stable fingerprint, so the export is cached."""
    import torch

    from lookalike.models import create_model, save_checkpoint

    path = WORK / "resnet18-random.pt"
    if not path.is_file():
        torch.manual_seed(0)
        net = create_model("resnet18", num_classes=1000)
        save_checkpoint(path, net, net.lookalike_info)  # type: ignore[arg-type]
    return path


# ------------------------------------------------------------------------------------------------------
# Stages


def stage_imports(rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, code in (
        ("torch + torchvision", "import torch, torchvision"),
        ("onnxruntime", "import onnxruntime"),
    ):
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t)
        out[name] = summary(times)
        print(f"import {name}: best {min(times):.2f} s", flush=True)
    return out


def stage_network(rounds: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    cases = (("32 px, batch 256", str(WEIGHTS), 256), ("224 px, batch 32", str(random_weights()), 32))
    return {label: network(label, weights, batch, rounds) for label, weights, batch in cases}


def network(label: str, weights: str, batch: int, rounds: int) -> dict[str, Any]:
    import torch

    from lookalike.features import Embedder
    from lookalike.features.onnx import ensure_model

    emb = Embedder(weights, device="cpu", backend="torch", precision="float32")
    bf16 = Embedder(weights, device="cpu", backend="torch", precision="bfloat16")
    crop = emb.info.crop_size
    x = torch.randn(batch, 3, crop, crop)
    onnx = ensure_model(WORK / f"net-{crop}.onnx", emb.describe(), lambda: emb.model)
    ways = {
        "eager float32": lambda: emb.model(x.contiguous()),  # channels_last weights, as the model is kept
        "torch backend (folded, channels_last)": lambda: emb._run(x),
        "ONNX Runtime": lambda: torch.from_numpy(onnx.run(x.numpy())),
        "torch backend bfloat16 (layer4 + pool in float32)": lambda: bf16._run(x),
    }
    ref = None
    row: dict[str, Any] = {}
    for name, fn in ways.items():
        with torch.inference_mode():
            fn()  # warm-up
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                y = fn()
                times.append(time.perf_counter() - t)
        y = y.float()
        ref = y if ref is None else ref
        cos = torch.nn.functional.cosine_similarity(y, ref).min().item()
        row[name] = {"images_per_s": batch / min(times), "min_cosine_vs_eager": round(cos, 6)}
        print(f"network {label}: {name}: {batch / min(times):.1f} images/s (cosine {cos:.6f})", flush=True)
    return row


def stage_search(rounds: int) -> dict[str, Any]:
    folder = cifar_folder()
    index = folder / ".lookalike"
    if not (index / "index.db").is_file():
        cli("index", str(folder), "--weights", str(WEIGHTS))
    query = str(query_file())
    times: dict[str, list[float]] = {"torch": [], "onnx": []}
    for _ in range(rounds):
        for backend in ("torch", "auto"):
            seconds, got = cli("search", query, "--index", str(index), "-k", "5", "--backend", backend)
            times[got["backend"]].append(seconds)
    return report("search", times)


def stage_compare(rounds: int) -> dict[str, Any]:
    a, b = sorted((CIFAR / "cat").glob("*.jpg"))[:2]
    times: dict[str, list[float]] = {"torch": [], "onnx": []}
    for _ in range(rounds):
        for backend in ("torch", "auto"):
            seconds, got = cli("compare", str(a), str(b), "--weights", str(WEIGHTS), "--backend", backend)
            times[got["backend"]].append(seconds)
    return report("compare", times)


def report(name: str, times: dict[str, list[float]]) -> dict[str, Any]:
    torch_s, onnx_s = summary(times["torch"]), summary(times["onnx"])
    ratio = torch_s["median"] / onnx_s["median"]
    print(
        f"{name}: torch median {torch_s['median']:.2f} s, onnx median {onnx_s['median']:.2f} s: {ratio:.2f}× "
        f"(target ≥ {TARGETS[name]}×)",
        flush=True,
    )
    return {"torch": torch_s, "onnx": onnx_s, "ratio_median": ratio, "target": TARGETS[name]}


# ``lookalike index`` three ways: the PyTorch float32 path before issue 10 (the baseline), ONNX Runtime in
# float32, and ``auto`` (bf16 through PyTorch where the CPU computes bf16 in hardware, else ONNX Runtime)
INDEX_WAYS = {
    "torch float32": ("--backend", "torch", "--precision", "float32"),
    "onnx float32": ("--backend", "onnx"),
    "auto": (),
}


def stage_index(rounds: int, photos: int) -> dict[str, Any]:
    import torch

    sets = {
        "CIFAR-10 JPEGs, 32 px": (cifar_folder(), str(WEIGHTS)),
        "1024×768 JPEGs, 224 px": (photo_folder(photos), str(random_weights())),
    }
    out: dict[str, Any] = {}
    for label, (folder, weights) in sets.items():
        location = WORK / f"index-{folder.name}"
        rates: dict[str, list[float]] = {way: [] for way in INDEX_WAYS}
        chosen: dict[str, str] = {}
        for _ in range(rounds):
            for way, flags in INDEX_WAYS.items():
                _, got = cli(
                    "index", str(folder), "--index", str(location), "-w", weights, "--rebuild", *flags
                )
                rates[way].append(got["images_per_s"])
                chosen[way] = f"{got.get('backend')} {got.get('precision')}"
        base = max(rates["torch float32"])
        rows = {k: summary(v, higher_is_better=True) for k, v in rates.items()}
        ratios = {k: max(v) / base for k, v in rates.items()}
        out[label] = {"images_per_s": rows, "ran_as": chosen, "ratio_best_vs_torch_float32": ratios}
        print(
            f"index {label}: "
            + ", ".join(f"{k} ({chosen[k]}) {max(v):.1f} img/s = {ratios[k]:.2f}×" for k, v in rates.items())
            + f" (target ≥ {TARGETS['index']}×)",
            flush=True,
        )
    # the lecture's per-image loop on the same photos, in this process
    from embed import imagenet_resnet18, lecture_loop

    paths = sorted(photo_folder(photos).glob("*.jpg"))
    net = imagenet_resnet18("none")
    torch.set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    lecture_loop(net, paths, WORK / "lecture.npy", "cpu")
    lecture = len(paths) / (time.perf_counter() - t)
    best = {k: v["best"] for k, v in out["1024×768 JPEGs, 224 px"]["images_per_s"].items()}
    out["lecture loop, 224 px"] = {
        "images_per_s": lecture,
        "ratio_index": {k: v / lecture for k, v in best.items()},
    }
    print(
        f"lecture loop: {lecture:.1f} images/s; index "
        + ", ".join(f"{k} {v / lecture:.2f}×" for k, v in best.items())
        + f" (target ≥ {TARGETS['lecture']}×)",
        flush=True,
    )
    return out


def run_stages(
    machine_info: dict[str, Any], chosen: str, stages: dict[str, Callable[[], Any]], out: Path | None
) -> int:
    """Print ``machine_info``, run those of ``stages`` named in ``chosen`` (comma-separated) in the order of
    ``stages``, and write all of it with the load average at the end as JSON to ``out`` if given."""
    results: dict[str, Any] = {"machine": machine_info}
    print(json.dumps(machine_info), flush=True)
    wanted = chosen.split(",")
    for name, stage in stages.items():
        if name in wanted:
            results[name] = stage()
    results["load_average_end"] = os.getloadavg()[0]
    if out:
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, from {', '.join(STAGES)}")
    p.add_argument("--rounds", type=int, default=5, help="rounds of each CLI measurement (default 5)")
    p.add_argument("--index-rounds", type=int, default=2, help="rounds of each index build (default 2)")
    p.add_argument("--photos", type=int, default=200, help="1024×768 photos for the index stage")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    args = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("LOOKALIKE_CACHE", str(WORK / "cache"))
    stages = {
        "imports": lambda: stage_imports(args.rounds),
        "network": lambda: stage_network(args.rounds),
        "search": lambda: stage_search(args.rounds),
        "compare": lambda: stage_compare(args.rounds),
        "index": lambda: stage_index(args.index_rounds, args.photos),
    }
    return run_stages(machine(), args.stages, stages, args.out)


if __name__ == "__main__":
    sys.exit(main())
