"""The two-image report: L1, MSE, cosine and NCC on raw pixels and on deep features, side by side.

Both columns start from the same preprocessed tensors — resized, centre-cropped and normalised exactly as
the network sees them — so the pixel column measures the network's input and the feature column its
pooled output.

>>> from lookalike.compare import compare
>>> report = compare("a.jpg", "b.jpg", weights="models/resnet18-cifar10.pt")  # doctest: +SKIP
>>> report.features["cosine"]  # doctest: +SKIP
0.97
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lookalike.errors import LookalikeError
from lookalike.features import Backend, Embedder, Precision
from lookalike.features.devices import queries_in_float32
from lookalike.features.onnx import OnnxModel, find_cached
from lookalike.images import frame_count
from lookalike.metrics import METRICS
from lookalike.models.weights import weights_fingerprint

if TYPE_CHECKING:
    import torch
    from PIL import Image

Space = Literal["pixels", "features", "both"]


@dataclass(frozen=True)
class Comparison:
    """Scores of one image pair. ``pixels`` / ``features`` map metric name → value (``None`` if not asked)."""

    a: str
    b: str
    pixels: dict[str, float] | None
    features: dict[str, float] | None
    model: str
    cifar_stem: bool
    weights: str
    input_size: int
    precision: str
    backend: str = "torch"
    notes: tuple[str, ...] = ()  # what the scores do not say: an animation's first frame was compared

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values, in their order but the scores last; ``input_size`` as C, H, W."""
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("pixels", "features")}
        side = self.input_size
        return {
            **plain,
            "input_size": [3, side, side],
            "notes": list(self.notes),
            "pixels": self.pixels,
            "features": self.features,
        }


def scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """All four metrics between two tensors of the same shape, as plain floats."""
    return {name: float(m.fn(x, y)) for name, m in METRICS.items()}


def _label(item: object) -> str:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    return type(item).__name__


def compare(
    a: str | os.PathLike[str] | Image.Image | torch.Tensor,
    b: str | os.PathLike[str] | Image.Image | torch.Tensor,
    *,
    space: Space = "both",
    embedder: Embedder | OnnxModel | None = None,
    weights: str | os.PathLike[str] | None = "DEFAULT",
    model: str | None = None,
    size: int | None = None,
    device: str | None = None,
    precision: Precision = "auto",
    backend: Backend = "auto",
) -> Comparison:
    """Compare two images on pixels, on deep features, or both.

    Pass an ``embedder`` to reuse a loaded model (an :class:`Embedder`, or an exported
    :class:`~lookalike.features.onnx.OnnxModel` such as :meth:`lookalike.collection.Index.query_model`, for
    two image files or PIL images); otherwise one is made from ``weights``/``model``/``size``.
    Pixel-space work with torchvision weights needs only their metadata, so it runs offline.

    Two image files (or PIL images) with a weights file whose ONNX export is in the cache (the first
    comparison on the CPU puts it there) take the torch-free path: Pillow, NumPy preprocessing, ONNX
    Runtime and the NumPy forms of the metrics — the same scores, without importing torch.
    """
    if space not in ("pixels", "features", "both"):
        raise LookalikeError(f"unknown space {space!r}; choose pixels, features or both")
    if isinstance(embedder, OnnxModel):
        if not (_is_image(a) and _is_image(b)):
            raise LookalikeError("an exported model compares image files or PIL images, not tensors")
        return _compare_onnx(a, b, embedder, space)
    if embedder is None and (cached := _cached_model(a, b, weights, model, size, device, precision, backend)):
        # the weights as given here: the cached export was made elsewhere, perhaps from another path
        return _compare_onnx(a, b, cached, space, weights=f"file:{Path(str(weights)).expanduser()}")
    import torch

    if precision == "auto" and embedder is None and queries_in_float32(device, backend):
        precision = "float32"  # two images: ONNX Runtime, whose export the next comparison finds cached

    emb = embedder or Embedder(
        weights, model=model, size=size, device=device, precision=precision, backend=backend
    )
    if embedder is None and emb.backend == "onnx" and space != "pixels" and _is_image(a) and _is_image(b):
        # the path every later comparison takes once the export is cached (NumPy preprocessing, ONNX
        # Runtime): the first run's scores are the same as the next ones'
        return _compare_onnx(a, b, emb.onnx_model, space, weights=emb.info.source)
    x = torch.stack([emb.preprocess(a), emb.preprocess(b)])
    pixels = scores(x[0], x[1]) if space in ("pixels", "both") else None
    features = None
    if space in ("features", "both"):
        f = emb.embed_batch(x)
        features = scores(f[0], f[1])
    return Comparison(
        a=_label(a),
        b=_label(b),
        pixels=pixels,
        features=features,
        model=emb.info.arch,
        cifar_stem=emb.info.cifar_stem,
        weights=emb.info.source,
        input_size=emb.info.crop_size,
        precision=emb.precision,
        backend=emb.backend,
        notes=_notes(a, b),
    )


def _notes(*items: object) -> tuple[str, ...]:
    """``x.gif: 12 frames, the first compared`` for each animated or multi-page file among ``items``."""
    out = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            n = frame_count(item)
            if n > 1:
                out.append(f"{os.fspath(item)}: {n} frames, the first compared")
    return tuple(out)


def _is_image(x: object) -> bool:
    """An image file or a PIL image (checked without importing torch)."""
    return isinstance(x, (str, os.PathLike)) or type(x).__module__.startswith("PIL.")


def _cached_model(
    a: object,
    b: object,
    weights: str | os.PathLike[str] | None,
    model: str | None,
    size: int | None,
    device: str | None,
    precision: str,
    backend: str,
) -> OnnxModel | None:
    """The cached ONNX export for a torch-free comparison, when everything allows one; else ``None``."""
    if backend == "torch" or device not in (None, "cpu") or precision not in ("auto", "float32"):
        return None
    if not (_is_image(a) and _is_image(b) and isinstance(weights, (str, os.PathLike))):
        return None
    path = Path(weights).expanduser()
    if not path.is_file():
        return None
    return find_cached(weights_fingerprint(path), model=model, size=size)


def _compare_onnx(
    a: Any, b: Any, onnx_model: OnnxModel, space: Space, *, weights: str | None = None
) -> Comparison:
    """:func:`compare` with Pillow, NumPy and ONNX Runtime only; ``weights`` names them (default: as the
    export's description does)."""
    import numpy as np

    x = np.stack([onnx_model.preprocess(a), onnx_model.preprocess(b)])
    pixels = {n: m.numpy(x[0], x[1]) for n, m in METRICS.items()} if space in ("pixels", "both") else None
    features = None
    if space in ("features", "both"):
        f = onnx_model.run(x)
        features = {n: m.numpy(f[0], f[1]) for n, m in METRICS.items()}
    d = onnx_model.description
    return Comparison(
        a=_label(a),
        b=_label(b),
        pixels=pixels,
        features=features,
        model=str(d["model"]),
        cifar_stem=bool(d["cifar_stem"]),
        weights=weights or str(d.get("weights")),
        input_size=int(d["crop_size"]),
        precision="float32",
        backend="onnx",
        notes=_notes(a, b),
    )
