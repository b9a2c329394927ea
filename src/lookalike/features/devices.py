"""Where and how the network runs: device, precision and backend, chosen by the hardware or on request."""

from __future__ import annotations

from typing import Literal

from lookalike.errors import LookalikeError

Precision = Literal["auto", "float32", "bfloat16", "float16"]
Backend = Literal["auto", "onnx", "torch"]


def cpu_has_amx() -> bool:
    """True when this CPU has AMX tiles, where bf16 convolutions run several times faster than float32.

    Without AMX (e.g. AVX-512 only), oneDNN emulates bf16 and it runs *slower* than float32.
    """
    import torch

    return "AMX" in torch.backends.cpu.get_cpu_capability()


def default_device() -> str:
    """``"cuda"`` when a CUDA device is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(precision: Precision, device: str) -> str:
    """Pick the compute precision for inference.

    ``auto`` is float16 on CUDA (tensor cores run it as fast as bf16, and its 10-bit mantissa keeps
    top-10 neighbours: overlap 0.999 against float32, where bf16 measured 0.989), bfloat16 on CPUs with
    AMX, and float32 elsewhere (without AMX, bf16 runs slower than float32). ``bfloat16`` runs the last
    stage and the pooling in float32, which lifts neighbour overlap from 0.989 to 0.992.
    """
    import torch

    if precision not in ("auto", "float32", "bfloat16", "float16"):
        raise LookalikeError(f"unknown precision {precision!r}; choose auto, float32, bfloat16 or float16")
    kind = torch.device(device).type
    if precision == "auto":
        if kind == "cuda":
            return "float16"
        return "bfloat16" if kind == "cpu" and cpu_has_amx() else "float32"
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
