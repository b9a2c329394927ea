"""The NumPy twin of the torch preprocessing: resize the shorter side, centre-crop, scale, normalise.

The torch-free query path (:mod:`lookalike.features.onnx`) feeds ONNX Runtime with arrays made here; the
torch path (:func:`lookalike.features.build_transform`) with tensors made by torchvision. Both read the
same :class:`lookalike.models.ModelInfo` fields and agree step by step:

* geometry — torchvision's ``resize(x, [size], antialias=True)`` sizes the longer side as
  ``int(size · long / short)`` and resamples uint8 with the same separable, antialiased filter that
  Pillow uses (torchvision's uint8 kernels follow Pillow's), so a Pillow resize gives the same pixels
  (within one level of rounding, on a few pixels); ``center_crop`` starts at ``round((h − crop) / 2)``;
* values — uint8 / 255, then (x − mean) / std in float32, in that order, as ``to_dtype`` + ``normalize``.

Nothing here imports torch.

>>> from PIL import Image
>>> pixels = geometry(Image.new("RGB", (64, 48)), resize=32, crop=32, interpolation="bilinear")
>>> pixels.shape, pixels.dtype
((32, 32, 3), dtype('uint8'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lookalike.errors import LookalikeError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["geometry", "normalize"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


def _resample(interpolation: str) -> int:
    from PIL import Image

    modes = {
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "nearest": Image.Resampling.NEAREST,
    }
    if interpolation not in modes:
        raise LookalikeError(
            f"interpolation {interpolation!r} has no NumPy twin; choose bilinear, bicubic or nearest"
        )
    return int(modes[interpolation])


def geometry(image: Image.Image, *, resize: int, crop: int, interpolation: str = "bilinear") -> U8:
    """A PIL image → its shorter side resized to ``resize``, centre-cropped to ``crop``: H×W×3 uint8.

    Steps with nothing to do are skipped, as in the torch path.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb.size
    if min(w, h) != resize:
        size = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
        rgb = rgb.resize(size, resample=_resample(interpolation), reducing_gap=None)
    pixels: U8 = np.asarray(rgb, dtype=np.uint8)
    h, w = pixels.shape[:2]
    if (h, w) != (crop, crop):
        if h < crop or w < crop:  # as torchvision: pad with zeros to the crop, then crop
            padded = np.zeros((max(h, crop), max(w, crop), 3), dtype=np.uint8)
            top, left = (max(h, crop) - h) // 2, (max(w, crop) - w) // 2
            padded[top : top + h, left : left + w] = pixels
            pixels, (h, w) = padded, padded.shape[:2]
        top, left = round((h - crop) / 2.0), round((w - crop) / 2.0)
        pixels = pixels[top : top + crop, left : left + crop]
    return np.ascontiguousarray(pixels)


def normalize(pixels: U8, mean: Sequence[float], std: Sequence[float]) -> F32:
    """H×W×3 or N×H×W×3 uint8 → 3×H×W or N×3×H×W float32: (x / 255 − mean) / std per channel."""
    x = pixels.astype(np.float32) / np.float32(255.0)
    x -= np.asarray(mean, dtype=np.float32)
    x /= np.asarray(std, dtype=np.float32)
    out: F32 = np.ascontiguousarray(np.moveaxis(x, -1, -3))
    return out
