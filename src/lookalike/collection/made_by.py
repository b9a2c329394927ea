"""What made an index's vectors, and whether another embedder makes the same ones.

Vectors are comparable when the settings a model file must agree on
(:data:`lookalike.features.onnx.SAME_MODEL`: model, weights fingerprint, preprocessing) are equal; precision
need not be: bf16, fp16 and fp32 vectors of the same weights agree to cosine ≥ 0.999.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import StoreError
from lookalike.features.onnx import SAME_MODEL

if TYPE_CHECKING:
    from lookalike.features import Embedder

__all__ = ["check_same_vectors", "describe_model", "embedder_meta"]


def embedder_meta(embedder: Embedder) -> dict[str, Any]:
    """:meth:`Embedder.describe` with random weights fingerprinted by their values (two random models
    differ) and the weights file's absolute location, so that a query can be embedded again later."""
    d = dict(embedder.describe())
    if d.get("fingerprint") == "random":
        h = hashlib.sha256()
        for name, tensor in sorted(embedder.model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        d["fingerprint"] = "random:" + h.hexdigest()[:32]
    source = str(d.get("weights", ""))
    if source.startswith("file:"):
        d["weights_location"] = str(Path(source.removeprefix("file:")).expanduser().resolve())
    return d


def describe_model(d: dict[str, Any]) -> str:
    fp = str(d.get("fingerprint", ""))
    short = fp if len(fp) <= 24 else fp[:23] + "…"
    stem = ", CIFAR stem" if d.get("cifar_stem") else ""
    return f"{d.get('model')}{stem} ({d.get('weights')}, {short}, {d.get('crop_size')} px input)"


def check_same_vectors(
    stored: dict[str, Any],
    asked: dict[str, Any],
    location: Path,
    *,
    keys: Iterable[str] = SAME_MODEL,
    source: Path | None = None,
    hint: str = "pass `location=OTHER` for a separate index, or `rebuild=True` to replace this one",
) -> None:
    """Raise :class:`StoreError` unless the vectors ``location`` holds (made as ``stored`` says) and the
    ones asked for (made as ``asked`` says, and held by ``source`` when they come from a file) agree on
    ``keys``."""
    differ = [k for k in keys if stored.get(k) != asked.get(k)]
    if not differ:
        return
    held = f"{location} holds vectors made by {describe_model(stored)}"
    if source is None:
        clash = f"{held}, but {describe_model(asked)} was asked for"
    else:
        clash = f"{source} holds vectors made by {describe_model(asked)}, but {held}"
    raise StoreError(f"{clash} ({', '.join(differ)} differ)", hint=hint)
