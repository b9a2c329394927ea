"""int8 with ONNX Runtime (issue 10, part 5): does a calibrated static quantisation keep the neighbours?

The bar for offering ``--precision int8``: top-10 neighbour overlap ≥ 0.95 against float32 and P@10 within
0.005, on the shared CIFAR-10 ResNet-18. This script measures the overlap first (the cheaper test, on
``--n`` CIFAR-10 images that are not among the calibration images) for several ONNX Runtime recipes, all
static QDQ, weights int8 per channel, activations uint8, 300 calibration images:

* ``minmax`` — the issue's first try (kept 0.39 of the top-10 neighbours there);
* ``percentile`` — activation ranges at the 99.999th percentile instead of the extremes;
* ``entropy`` — ranges that minimise the KL divergence of each activation histogram (TensorRT's method);
* ``percentile + float islands`` — as ``percentile``, with the first convolution and the last stage
  (``layer4``) left in float32, where quantisation error hurts the pooled features most.

It also reports each model's images/s at batch 256 (2 threads) beside float32.

Usage::

    python benchmarks/int8_onnx.py --out int8.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CIFAR = SHARED / "datasets" / "cifar10" / "train"
WEIGHTS = SHARED / "models" / "resnet18-cifar10.pt"
WORK = ROOT / ".data" / "int8-onnx"


def cifar(start: int, n: int) -> list[Path]:
    per_class = [sorted(d.glob("*.jpg")) for d in sorted(CIFAR.iterdir()) if d.is_dir()]
    mixed = [p for group in zip(*per_class, strict=False) for p in group]
    return mixed[start : start + n]


def top10(v: np.ndarray) -> np.ndarray:
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    sims = u @ u.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :10]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = top10(a), top10(b)
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(na, nb, strict=True)]))


def speed(path: Path, x: np.ndarray) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session.run(None, {"pixels": x})
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        session.run(None, {"pixels": x})
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def run_model(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"pixels": x[i : i + 256]})[0] for i in range(0, len(x), 256)])


def main(argv: list[str] | None = None) -> int:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from lookalike.features import Embedder
    from lookalike.features.onnx import ensure_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2000, help="evaluation images (default 2,000)")
    p.add_argument("--calibration", type=int, default=300)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)

    emb = Embedder(str(WEIGHTS), device="cpu", backend="torch")
    model = ensure_model(WORK / "float32.onnx", emb.describe(), lambda: emb.model)
    prepared = WORK / "float32-prepared.onnx"
    quant_pre_process(str(WORK / "float32.onnx"), str(prepared))
    calib = np.stack([model.preprocess(p) for p in cifar(0, args.calibration)])
    evaluation = np.stack([model.preprocess(p) for p in cifar(10_000, args.n)])
    reference = run_model(prepared, evaluation)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter([{"pixels": calib[i : i + 50]} for i in range(0, len(calib), 50)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    graph = onnx.load(prepared).graph
    islands = [n.name for n in graph.node if "layer4" in n.name or n.name.startswith("/conv1/")]
    islands += [n.name for n in graph.node if n.op_type == "Conv"][:1]
    recipes: dict[str, dict[str, Any]] = {
        "minmax": {"calibrate_method": CalibrationMethod.MinMax},
        "percentile": {
            "calibrate_method": CalibrationMethod.Percentile,
            "extra_options": {"CalibPercentile": 99.999},
        },
        "entropy": {"calibrate_method": CalibrationMethod.Entropy},
        "percentile + float islands": {
            "calibrate_method": CalibrationMethod.Percentile,
            "extra_options": {"CalibPercentile": 99.999},
            "nodes_to_exclude": sorted(set(islands)),
        },
    }
    x256 = evaluation[:256]
    results: dict[str, Any] = {
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
        "cores": os.cpu_count(),
        "float32_images_per_s": speed(prepared, x256),
        "recipes": {},
    }
    print(f"float32: {results['float32_images_per_s']:.1f} images/s", flush=True)
    for name, kw in recipes.items():
        target = WORK / f"int8-{name.replace(' ', '-').replace('+', '')}.onnx"
        t = time.perf_counter()
        quantize_static(
            str(prepared),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            **kw,
        )
        vectors = run_model(target, evaluation)
        row = {
            "overlap_top10": overlap(reference, vectors),
            "images_per_s": speed(target, x256),
            "quantise_seconds": time.perf_counter() - t,
        }
        results["recipes"][name] = row
        print(f"{name}: overlap {row['overlap_top10']:.3f}, {row['images_per_s']:.1f} images/s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
