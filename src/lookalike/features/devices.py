"""What runs the network, where, and in which precision: the CPU's facts and every choice made from them.

One word for each idea, here and everywhere in lookalike:

* **device** — where the network runs: ``cpu`` or ``cuda`` (:func:`default_device`);
* **precision** — the numbers it computes in: ``float32``, ``bfloat16`` or ``float16``
  (:func:`resolve_precision`);
* **backend** — which library runs an :class:`~lookalike.features.Embedder`'s network: ``torch`` (PyTorch)
  or ``onnx`` (the network exported once to an ONNX file, :mod:`lookalike.features.onnx`)
  (:func:`resolve_backend`); an index records it, ``--backend`` asks for one;
* **engine** — what runs an exported ONNX file (an :class:`~lookalike.features.onnx.OnnxModel`, the onnx
  backend's model): ``onnxruntime`` (ONNX Runtime, float32) or ``openvino`` (OpenVINO in bf16, for
  queries: :mod:`lookalike.features.openvino`) (:func:`resolve_engine`).

``auto`` (for the device: ``None``) is decided here from the hardware — CUDA, the CPU's flags
(:func:`cpu_has_native_bf16`) — and from what is installed (:func:`onnxruntime_available`,
:func:`openvino_bf16_available`). Importing this module imports none of torch, ONNX Runtime and OpenVINO:
each is imported by the question that needs it.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Literal

from lookalike.errors import LookalikeError

Precision = Literal["auto", "float32", "bfloat16", "float16"]
Backend = Literal["auto", "onnx", "torch"]
#: What runs an exported model: ONNX Runtime (float32), OpenVINO (bf16), or ``auto``.
Engine = Literal["auto", "onnxruntime", "openvino"]

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


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime can be imported here (it is a dependency; a broken install says no)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_bf16_available() -> bool:
    """True when OpenVINO is installed and this CPU computes bf16 in hardware (AVX-512 BF16 or AMX)."""
    return importlib.util.find_spec("openvino") is not None and cpu_has_native_bf16()


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
    """Pick the backend, the library that runs the network: ``onnx`` (an exported file) or ``torch``.

    ``auto`` is ``onnx`` on the CPU in float32 (ONNX Runtime runs it 1.4–2× faster than eager PyTorch there,
    same vectors to float rounding; benchmarks/RESULTS.md) and ``torch`` on CUDA, in bf16/fp16, or with
    ``compile``.
    ``precision`` is the resolved one (see :func:`resolve_precision`).
    """
    import torch

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


def resolve_engine(engine: Engine) -> str:
    """Pick what runs an exported model: ``auto`` is ``openvino`` where :func:`openvino_bf16_available`
    (about twice ONNX Runtime's float32 speed for one image; for queries only, see
    :mod:`lookalike.features.openvino`), else ``onnxruntime``."""
    if engine not in ("auto", "onnxruntime", "openvino"):
        raise LookalikeError(f"unknown engine {engine!r}; choose auto, onnxruntime or openvino")
    if engine == "auto":
        return "openvino" if openvino_bf16_available() else "onnxruntime"
    return engine


def queries_in_float32(device: str | None, backend: Backend = "auto") -> bool:
    """Whether a few images at a time (a search by file, a comparison, an upload) are best embedded in
    float32 by ONNX Runtime, whatever ``auto`` picks for bulk work: on the CPU with onnxruntime installed,
    unless ``backend='torch'`` is asked. A query's time is mostly start-up, which ONNX Runtime's cached
    model cuts (no torch to import); bf16's throughput pays off only over many images. The vectors are
    comparable either way (top-10 overlap ≥ 0.99 between the precisions).
    """
    import torch

    if backend == "torch" or torch.device(device or default_device()).type != "cpu":
        return False
    return onnxruntime_available()
