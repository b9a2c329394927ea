"""OpenVINO bf16 with float32 "islands" (issue 10): does keeping the last stage (or more) in f32 lift the
top-10 neighbour overlap over 0.99 while the network stays fast enough for the ``lookalike index`` target?

Purpose: ``benchmarks/openvino_bf16.py`` found OpenVINO bf16 2.35× the torch backend but keeping only
0.9827 of the float32 top-10 neighbours (policy: ≥ 0.99). lookalike's PyTorch ``bfloat16`` path keeps the
last stage and the pooling in float32, which raised the overlap there; this script measures the same idea
in OpenVINO.

Method: the feature extractor exactly as lookalike builds it (``Embedder(weights, device="cpu",
backend="torch").model``, classifier removed) is cut into units — stem (conv1, bn1, relu, maxpool),
layer1, layer2, layer3, layer4.0, layer4.1, pool (avgpool + flatten) — and each variant is a chain of
contiguous parts, each part exported to ONNX (TorchScript exporter, opset 17, dynamic batch, under
``.data/onnx-bench/islands/``) and compiled by OpenVINO for the CPU with ``INFERENCE_PRECISION_HINT`` bf16 or
f32 (2 threads, ``PERFORMANCE_HINT=LATENCY``, as openvino_bf16.py does); a variant runs its parts one after
the other (the bf16 part hands float32 tensors holding bf16-rounded values to the next). Marking nodes of
one model with the ``disable_fp16_compression_0`` runtime attribute was tried first and does nothing for
bf16 on the CPU plugin (output bit-identical to plain bf16), hence the separate models. References: PyTorch
eager float32, the torch backend, ONNX Runtime float32, OpenVINO f32 and bf16 on the whole network (from
openvino_bf16.py).

* ``fidelity`` — as ``openvino_bf16.stage_fidelity``: the shared CIFAR-10 ResNet-18 at 32 px, the first
  1,000 CIFAR-10 training images (classes interleaved) as queries against the next 10,000, the same
  NumPy-preprocessed pixels for every way; top-10 overlap with eager float32, queries with all 10, least
  per-image cosine, P@10.
* ``photos`` — the 224 px path cheaply: 200 synthetic 1024×768 photos (``cpu_inference.photo_folder``)
  through the seeded random ImageNet-stem ResNet-18; least and mean per-image cosine with eager float32.
* ``speed`` — as ``openvino_bf16.stage_speed``: the network alone, batch 256 at 32 px (shared model) and
  batch 32 at 224 px (random weights), rounds alternating between all ways; best and median images/s and
  the ratio to the torch backend.

Usage::

    python benchmarks/openvino_islands.py --out islands.json
    python benchmarks/openvino_islands.py --queries 50 --gallery 200 --rounds 2 --photos 16  # smoke test
    python benchmarks/openvino_islands.py --stages fidelity --skip "torch backend,ONNX Runtime,OpenVINO f32"

Measured (2-core AMD EPYC, avx512_bf16, no AMX, OpenVINO 2026.4.1, shared machine; benchmarks/RESULTS.md
"OpenVINO bf16 with float islands"): no variant keeps 0.99 of the top-10 neighbours. f32 layer4 + pool:
0.9837 at 1.93× / 1.77× the torch backend (32 / 224 px, best); f32 layer3 + layer4 + pool: 0.9860 at
1.49× / 1.52×; f32 stem and f32 layer4 + pool: 0.9872 (the best) at 1.77× / 1.73×; OpenVINO bf16
everywhere 0.9827 at 2.35× / 2.13×. The stem is the most sensitive part (f32 stem alone: 0.9856). P@10
stays 0.9943-0.9945 (float32 0.9944). Not enough for an OpenVINO bf16 backend.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_inference import WEIGHTS, WORK, machine, photo_folder, random_weights
from openvino_bf16 import (
    THREADS,
    batched,
    cifar_pixels,
    cosines,
    fidelity_row,
    openvino_runner,
    runners,
    top10,
)

ISLANDS = WORK / "islands"
UNIT_NAMES = ("stem", "layer1", "layer2", "layer3", "layer4.0", "layer4.1", "pool")
REFERENCE = "PyTorch eager float32"
TORCH_BACKEND = "torch backend (folded, channels_last)"

# A variant: (name, parts), each part (first unit, end unit, OpenVINO precision) over UNIT_NAMES.
Part = tuple[int, int, str]
VARIANTS: dict[str, list[Part]] = {
    "bf16 stem-layer3 | f32 layer4+pool": [(0, 4, "bf16"), (4, 7, "f32")],
    "bf16 stem-layer2 | f32 layer3+layer4+pool": [(0, 3, "bf16"), (3, 7, "f32")],
    "bf16 stem-layer4.0 | f32 layer4.1+pool": [(0, 5, "bf16"), (5, 7, "f32")],
    "bf16 stem-layer4 | f32 pool": [(0, 6, "bf16"), (6, 7, "f32")],
    "f32 stem | bf16 layer1-4 | f32 pool": [(0, 1, "f32"), (1, 6, "bf16"), (6, 7, "f32")],
    "f32 stem | bf16 layer1-3 | f32 layer4+pool": [(0, 1, "f32"), (1, 4, "bf16"), (4, 7, "f32")],
    "f32 stem | bf16 layer1-4.0 | f32 layer4.1+pool": [(0, 1, "f32"), (1, 5, "bf16"), (5, 7, "f32")],
}

Runner = Callable[[np.ndarray], np.ndarray]


def units(net: Any) -> list[Any]:
    """The torchvision ResNet ``net`` (fc = Identity) as the modules of :data:`UNIT_NAMES`, in order."""
    from torch import nn

    assert isinstance(net.fc, nn.Identity), net.fc
    assert len(net.layer4) == 2, "ResNet-18/34 layout: layer4 of two blocks"
    return [
        nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
        net.layer1,
        net.layer2,
        net.layer3,
        net.layer4[0],
        net.layer4[1],
        nn.Sequential(net.avgpool, nn.Flatten(1)),
    ]


def export_part(net: Any, crop: int, first: int, end: int, tag: str) -> Path:
    """Units ``first:end`` of ``net`` as ONNX (opset 17, dynamic batch), for inputs of a ``crop`` px image."""
    import torch
    from torch import nn

    model = copy.deepcopy(net).float().cpu().eval().to(memory_format=torch.contiguous_format)
    mods = units(model)
    with torch.no_grad():
        x = torch.zeros(1, 3, crop, crop)
        for m in mods[:first]:
            x = m(x)
    part = nn.Sequential(*mods[first:end]).eval()
    path = ISLANDS / f"{tag}-{crop}-{UNIT_NAMES[first]}-{UNIT_NAMES[end - 1]}.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            part,
            (x,),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            opset_version=17,
        )
    return path


def chain(fns: Sequence[Runner]) -> Runner:
    def run(x: np.ndarray) -> np.ndarray:
        for fn in fns:
            x = fn(x)
        return x

    return run


def all_ways(weights: str, crop: int, tag: str, variants: Sequence[str]) -> dict[str, Runner]:
    """The five references of openvino_bf16.py and the island variants, for the network in ``weights``."""
    from lookalike.features import Embedder

    ways = runners(weights, crop)
    net = Embedder(weights, device="cpu", backend="torch").model
    ISLANDS.mkdir(parents=True, exist_ok=True)
    compiled: dict[Part, Runner] = {}
    for name in variants:
        fns = []
        for first, end, precision in VARIANTS[name]:
            key = (first, end, precision)
            if key not in compiled:
                path = export_part(net, crop, first, end, tag)
                compiled[key], reported = openvino_runner(path, precision)
                assert reported == precision, (path, precision, reported)
            fns.append(compiled[key])
        ways[f"OV {name}"] = chain(fns)
    return ways


def stage_fidelity(
    queries: int,
    gallery: int,
    variants: Sequence[str],
    skip: Sequence[str],
    out: dict[str, Any],
    save: Callable[[], None],
) -> None:
    """Fills ``out`` way by way — the reference first, then the island variants, then the other references
    but those whose names start with one of ``skip`` — calling ``save`` after each, so that a run cut
    short keeps what it measured."""
    ways = all_ways(str(WEIGHTS), 32, "cifar", variants)
    order = [REFERENCE, *(f"OV {v}" for v in variants)]
    order += [name for name in ways if name not in order and not name.startswith(tuple(skip))]
    x, labels = cifar_pixels(queries + gallery)
    out.update({"queries": queries, "gallery": gallery, "reference": REFERENCE, "variants": {}})
    ref = ref_top = np.empty(0)
    for name in order:
        t = time.perf_counter()
        v = batched(ways[name], x)
        print(f"embedded with {name} in {time.perf_counter() - t:.1f} s", flush=True)
        if name == REFERENCE:
            ref, ref_top = v, top10(v[:queries], v[queries:])
        row = fidelity_row(v, ref, ref_top, queries, labels)
        out["variants"][name] = row
        print(f"fidelity {name}: {json.dumps(row)}", flush=True)
        save()


def stage_photos(n: int, variants: Sequence[str]) -> dict[str, Any]:
    """Per-image cosine with eager float32 at 224 px (random ImageNet-stem weights, synthetic photos)."""
    from lookalike.features.onnx import OnnxModel

    ways = all_ways(str(random_weights()), 224, "random", variants)
    model = OnnxModel(WORK / "net-224.onnx", threads=THREADS)
    paths = sorted(photo_folder(max(n, 1)).glob("*.jpg"))[:n]
    x = np.stack([model.preprocess(p) for p in paths])
    vectors = {name: batched(fn, x, 32) for name, fn in ways.items()}
    out: dict[str, Any] = {"images": len(x), "reference": REFERENCE, "variants": {}}
    for name, v in vectors.items():
        cos = cosines(v, vectors[REFERENCE])
        row = {"least_cosine": round(float(cos.min()), 6), "mean_cosine": round(float(cos.mean()), 7)}
        out["variants"][name] = row
        print(f"photos 224 px {name}: {json.dumps(row)}", flush=True)
    return out


def stage_speed(rounds: int, variants: Sequence[str]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(THREADS)
    out: dict[str, Any] = {}
    for label, weights, crop, batch, tag in (
        ("32 px, batch 256", str(WEIGHTS), 32, 256, "cifar"),
        ("224 px, batch 32", str(random_weights()), 224, 32, "random"),
    ):
        ways = all_ways(weights, crop, tag, variants)
        x = np.random.default_rng(0).standard_normal((batch, 3, crop, crop), dtype=np.float32)
        outputs = {name: fn(x) for name, fn in ways.items()}  # warm-up
        for fn in ways.values():
            fn(x)
        times: dict[str, list[float]] = {name: [] for name in ways}
        loads = [os.getloadavg()[0]]
        for _ in range(rounds):
            for name, fn in ways.items():
                t = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - t)
            loads.append(os.getloadavg()[0])
        row: dict[str, Any] = {"load_average_min": min(loads), "load_average_max": max(loads)}
        for name, ts in times.items():
            row[name] = {
                "best_images_per_s": round(batch / min(ts), 1),
                "median_images_per_s": round(batch / statistics.median(ts), 1),
                "least_cosine_vs_eager": round(float(cosines(outputs[name], outputs[REFERENCE]).min()), 6),
            }
        base = row[TORCH_BACKEND]
        for name in ways:
            r = row[name]
            r["ratio_best_vs_torch_backend"] = round(r["best_images_per_s"] / base["best_images_per_s"], 2)
            r["ratio_median_vs_torch_backend"] = round(
                r["median_images_per_s"] / base["median_images_per_s"], 2
            )
            print(f"speed {label}: {name}: {json.dumps(r)}", flush=True)
        out[label] = row
    return out


def main(argv: list[str] | None = None) -> int:
    import openvino

    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument(
        "--stages", default="speed,photos,fidelity", help="comma-separated: speed, photos, fidelity"
    )
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated island variants")
    p.add_argument(
        "--skip", default="", help="comma-separated name prefixes of references the fidelity stage leaves out"
    )
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--gallery", type=int, default=10_000)
    p.add_argument("--photos", type=int, default=200, help="224 px images for the photos stage")
    p.add_argument("--rounds", type=int, default=10, help="timed rounds of each way (default 10)")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    skip = [v for v in args.skip.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variants: {sorted(unknown)}")
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": {**machine(), "openvino": openvino.__version__}}
    print(json.dumps(results["machine"]), flush=True)
    stages = args.stages.split(",")

    def save() -> None:
        results["load_average_end"] = os.getloadavg()[0]
        if args.out:
            args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")

    if "speed" in stages:
        results["speed"] = stage_speed(args.rounds, variants)
        save()
    if "photos" in stages:
        results["photos"] = stage_photos(args.photos, variants)
        save()
    if "fidelity" in stages:
        results["fidelity"] = {}
        stage_fidelity(args.queries, args.gallery, variants, skip, results["fidelity"], save)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
