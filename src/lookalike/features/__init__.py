"""Deep features: a ResNet with its classifier removed turns images into vectors.

:class:`Embedder` takes weights (a torchvision name, a file, or ``"none"``), reads the preprocessing from
their metadata, and embeds paths, PIL images or image tensors in batches on the best device, in a reduced
precision where the hardware runs it faster than float32 and ≥ 99 % of top-10 neighbours stay (float16 on
CUDA, bfloat16 on a CPU that computes it in hardware: AMX or AVX-512 BF16), float32 otherwise or on
request. A few images at a time (a query, a comparison) run in float32 on the CPU through ONNX Runtime.

The file pipeline (:meth:`Embedder.iter_files`) is one loop::

    worker processes: read file -> decode (Pillow, JPEG draft mode) -> resize + centre crop -> uint8
                      (on CUDA, ordinary JPEG files travel as bytes and are decoded by nvjpeg instead)
    main process:     uint8 batch -> device -> normalise -> ResNet (on the CPU in float32: ONNX Runtime,
                      lookalike.features.onnx; else PyTorch, channels_last, in float32 with BatchNorm
                      folded or in bf16/fp16 with the last stage in float32, torch.compile'd if asked)
                      -> float32 vectors
                      (on CUDA copied back asynchronously and handed out one batch behind)

so decoding overlaps inference, only a quarter of the bytes of float pixels cross between processes,
and each knob has a default chosen by device (see :class:`Embedder`).

>>> from lookalike.features import Embedder
>>> emb = Embedder("models/resnet18-cifar10.pt")  # doctest: +SKIP
>>> emb.embed(["cat.jpg", "dog.jpg"]).shape  # doctest: +SKIP
torch.Size([2, 512])
"""

from __future__ import annotations

from lookalike.features.devices import (
    Backend,
    Engine,
    Precision,
    cpu_has_amx,
    cpu_has_native_bf16,
    default_device,
    resolve_backend,
    resolve_engine,
    resolve_precision,
)
from lookalike.features.embedder import Embedder
from lookalike.features.pipeline import EmbeddedBatch
from lookalike.features.transforms import (
    DRAFT_MARGIN,
    build_geometry,
    build_normalize,
    build_transform,
    preprocess_info,
)

__all__ = [
    "DRAFT_MARGIN",
    "Backend",
    "EmbeddedBatch",
    "Embedder",
    "Engine",
    "Precision",
    "build_geometry",
    "build_normalize",
    "build_transform",
    "cpu_has_amx",
    "cpu_has_native_bf16",
    "default_device",
    "preprocess_info",
    "resolve_backend",
    "resolve_engine",
    "resolve_precision",
]
