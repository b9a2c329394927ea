"""Where and how the network runs: device, precision and backend, chosen by the hardware or on request."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from lookalike.errors import LookalikeError

Precision = Literal["auto", "float32", "bfloat16", "float16"]
Backend = Literal["auto", "onnx", "torch"]

_NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def cpu_has_amx() -> bool:
    """True when this CPU has AMX tiles, where bf16 convolutions run several times faster than float32."""
    import torch

    return "AMX" in torch.backends.cpu.get_cpu_capability()


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware: AMX (``amx_bf16``) or AVX-512 BF16 (``avx512_bf16``:
    Intel Cooper Lake and Sapphire Rapids on, AMD Zen 4 on). There oneDNN runs bf16 convolutions 2–3× as
    fast as float32 (2.8× for inference, 1.3–1.9× for training on a Zen 4 EPYC: benchmarks/RESULTS.md);
    without them (AVX-512 or AVX2 alone) it emulates bf16, slower than float32. Where the flags cannot be
    read (not Linux), only AMX counts, as PyTorch reports it.
    """
    flags = cpu_flags()
    if flags:
        return not flags.isdisjoint(_NATIVE_BF16_FLAGS)
    return cpu_has_amx()


def default_device() -> str:
    """``"cuda"`` when a CUDA device is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(precision: Precision, device: str, backend: Backend = "auto") -> str:
    """Pick the compute precision for inference.

    ``auto`` is float16 on CUDA (tensor cores run it as fast as bf16, and its 10-bit mantissa keeps
    top-10 neighbours: overlap 0.999 against float32, where bf16 measured 0.989), bfloat16 on CPUs that
    compute it in hardware (:func:`cpu_has_native_bf16`; emulated bf16 runs slower than float32), and
    float32 elsewhere or with ``backend='onnx'`` (ONNX Runtime computes in float32). ``bfloat16`` runs
    the last stage and the pooling in float32, which lifts neighbour overlap from 0.989 to 0.992.
    """
    import torch

    if precision not in ("auto", "float32", "bfloat16", "float16"):
        raise LookalikeError(f"unknown precision {precision!r}; choose auto, float32, bfloat16 or float16")
    kind = torch.device(device).type
    if precision == "auto":
        if backend == "onnx":
            return "float32"
        if kind == "cuda":
            return "float16"
        return "bfloat16" if kind == "cpu" and cpu_has_native_bf16() else "float32"
    if precision == "float16" and kind == "cpu":
        raise LookalikeError(
            "float16 is not supported on the CPU", "use `precision='bfloat16'` or `precision='float32'`"
        )
    return precision


def resolve_backend(backend: Backend, device: str, precision: str, *, compile: bool = False) -> str:
    """Pick what runs the network: ``onnx`` (ONNX Runtime) or ``torch``.

    ``auto`` is ONNX Runtime on the CPU in float32 (1.4–2× faster than eager PyTorch there, same vectors
    to float rounding; benchmarks/RESULTS.md) and PyTorch on CUDA, in bf16/fp16, or with ``compile``.
    ``precision`` is the resolved one (see :func:`resolve_precision`).
    """
    import torch

    from lookalike.features.onnx import onnxruntime_available

    if backend not in ("auto", "onnx", "torch"):
        raise LookalikeError(f"unknown backend {backend!r}; choose auto, onnx or torch")
    if backend == "torch":
        return "torch"
    cpu = torch.device(device).type == "cpu"
    if backend == "onnx":
        if not cpu:
            raise LookalikeError(
                "the onnx backend runs on the CPU", "pass `device='cpu'` or `backend='torch'`"
            )
        if precision != "float32":
            raise LookalikeError(
                f"the onnx backend computes in float32, not {precision}",
                "pass `precision='float32'` or `backend='torch'`",
            )
        if compile:
            raise LookalikeError("compiling needs the torch backend", "pass `backend='torch'`")
        if not onnxruntime_available():
            raise LookalikeError(
                "onnxruntime is not installed", "pip install onnxruntime, or pass `backend='torch'`"
            )
        return "onnx"
    return "onnx" if cpu and precision == "float32" and not compile and onnxruntime_available() else "torch"


def queries_in_float32(device: str | None, backend: Backend = "auto") -> bool:
    """Whether a few images at a time (a search by file, a comparison, an upload) are best embedded in
    float32 by ONNX Runtime, whatever ``auto`` picks for bulk work: on the CPU with onnxruntime installed,
    unless ``backend='torch'`` is asked. A query's time is mostly start-up, which ONNX Runtime's cached
    model cuts (no torch to import); bf16's throughput pays off only over many images. The vectors are
    comparable either way (top-10 overlap ≥ 0.99 between the precisions).
    """
    import torch

    from lookalike.features.onnx import onnxruntime_available

    if backend == "torch" or torch.device(device or default_device()).type != "cpu":
        return False
    return onnxruntime_available()
