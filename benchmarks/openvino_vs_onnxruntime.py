"""OpenVINO against ONNX Runtime on the same exported ResNet-18 files (issue 10: choose by numbers).

Runs in a scratch environment (``pip install openvino onnxruntime numpy``; OpenVINO is not a lookalike
dependency) on the files ``benchmarks/cpu_inference.py`` exported to ``.data/onnx-bench/net-{32,224}.onnx``.
Rounds alternate between the two runtimes; each reports its best round in images/s, and the least per-image
cosine of its vectors with ONNX Runtime's.

Usage::

    /tmp/ovenv/bin/python benchmarks/openvino_vs_onnxruntime.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort
    import openvino as ov

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    core = ov.Core()
    for crop, batch in ((32, 256), (224, 32)):
        path = ROOT / ".data" / "onnx-bench" / f"net-{crop}.onnx"
        x = np.random.default_rng(0).standard_normal((batch, 3, crop, crop), dtype=np.float32)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        model = core.read_model(str(path))
        # OpenVINO runs bf16 by default on CPUs with avx512_bf16 or AMX: f32 is the like-for-like setting
        hint = {"PERFORMANCE_HINT": "LATENCY"}
        f32 = core.compile_model(model, "CPU", {**hint, "INFERENCE_PRECISION_HINT": "f32"})
        default = core.compile_model(model, "CPU", hint)
        runs = {
            "onnxruntime": lambda s=session, x=x: s.run(None, {"pixels": x})[0],
            "openvino f32": lambda c=f32, x=x: c(x)[0],
            f"openvino default ({default.get_property('INFERENCE_PRECISION_HINT')})": lambda c=default, x=x: (
                c(x)[0]
            ),
        }
        outputs = {name: fn() for name, fn in runs.items()}  # warm-up
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(args.rounds):
            for name, fn in runs.items():
                t = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t)
        ref = outputs["onnxruntime"]
        for name, seconds in best.items():
            y = outputs[name]
            cos = float(((y * ref).sum(1) / (np.linalg.norm(y, axis=1) * np.linalg.norm(ref, axis=1))).min())
            print(
                f"{crop} px, batch {batch}: {name} {batch / seconds:.1f} img/s, least cosine with "
                f"onnxruntime {cos:.6f}; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
