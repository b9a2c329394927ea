"""OpenVINO in bf16 for queries: an exported model (:mod:`lookalike.features.onnx`) run about twice as fast
as ONNX Runtime's float32 on CPUs that compute bf16 in hardware.

On a Zen 4 EPYC (AVX-512 BF16), one 32-px image through the CIFAR-stem ResNet-18 on one thread took 7.1 ms
(p50) in OpenVINO bf16 against 13.5 ms in ONNX Runtime float32 and 12.8 ms in OpenVINO float32. Only for
queries — one image at a time, against stored vectors: a bf16 query keeps 0.9927 of its float32 top-10
neighbours among 1,000 CIFAR-10 images (per-image cosine ≥ 0.99994), above lookalike's 0.99 policy; embedding
the collection itself in OpenVINO's bf16 (BatchNorm folded) keeps 0.9885, below it, so collections are
embedded by PyTorch's bf16 policy instead (:func:`lookalike.features.resolve_precision`). Figures:
benchmarks/RESULTS.md. Nothing here imports torch.

OpenVINO is optional (``pip install lookalike[openvino]``): one of the two engines that run an exported model
(:class:`~lookalike.features.onnx.OnnxModel`). Which engine runs is chosen beside the device, precision and
backend, in :mod:`lookalike.features.devices`: ``engine="auto"`` picks OpenVINO only where it is installed
and the CPU computes bf16 in hardware, else ONNX Runtime (:func:`~lookalike.features.devices.resolve_engine`).
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

__all__ = ["OpenVinoBf16"]


class OpenVinoBf16:
    """An ONNX file compiled by OpenVINO for the CPU in bf16: normalised N×3×H×W float32 → N×D float32.

    ``threads`` is OpenVINO's thread count (default: its own, one per core). Not for concurrent calls: its
    callers (the web page's uploads) take the model one request at a time.
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        import openvino as ov

        config: dict[str, object] = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = ov.Core().compile_model(os.fspath(path), "CPU", config)

    def __call__(self, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self._compiled({0: pixels})[0]
        return np.asarray(out, dtype=np.float32)
