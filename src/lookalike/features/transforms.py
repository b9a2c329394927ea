"""The torchvision preprocessing of an image for a set of weights: resize, centre crop, normalise.

:mod:`lookalike.features.transforms_numpy` is its NumPy twin for the torch-free query path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lookalike.errors import LookalikeError
from lookalike.models import ModelInfo

if TYPE_CHECKING:
    import torch


# Pillow's JPEG draft mode (DCT-domain 1/2, 1/4, 1/8 scaling) may shrink a photo only down to this many
# times the resize size; the antialiased resize does the rest. Drafting down to the resize size itself
# sharpens the input enough to move neighbours: top-10 overlap with the lecture's full decode fell to
# 0.984 on 1024×768 photos and 0.982 on 2048×1536 with a trained stem; with 2× it is 1.0 and 0.9925
# (benchmarks/fidelity.py, RESULTS.md).
DRAFT_MARGIN = 2


def preprocess_info(info: ModelInfo, size: int | None) -> ModelInfo:
    """``info`` with its input size overridden to ``size`` (the resize scales with it)."""
    if size is None or size == info.crop_size:
        return info
    if size < 8:
        raise LookalikeError(f"image size {size} is too small", "use a `size` of at least 8 pixels")
    resize = round(size * info.resize_size / info.crop_size)
    return replace(info, crop_size=size, resize_size=resize)


def build_geometry(info: ModelInfo) -> Callable[[Any], torch.Tensor]:
    """The geometric half of the preprocessing: resize the shorter side, centre-crop; uint8 stays uint8.

    Takes a PIL image or a C×H×W (or N×C×H×W) tensor, returns a plain tensor of the same dtype. Steps
    with nothing to do are skipped (a 32×32 CIFAR image for a 32-pixel model costs no resampling).
    """
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional

    interpolation = InterpolationMode(info.interpolation)
    resize, crop = info.resize_size, info.crop_size

    def geometry(image: Any) -> torch.Tensor:
        if isinstance(image, Image.Image):
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            image = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)
        x: torch.Tensor = image.as_subclass(torch.Tensor)
        if min(x.shape[-2:]) != resize:
            x = functional.resize(x, [resize], interpolation=interpolation, antialias=True)
        if tuple(x.shape[-2:]) != (crop, crop):
            x = functional.center_crop(x, [crop])
        return x

    return geometry


def build_normalize(info: ModelInfo) -> Callable[[torch.Tensor], torch.Tensor]:
    """The value half: uint8 (or [0, 1] float) image or batch → float32 normalised with the weights'
    mean and std. Elementwise, so a batch gets exactly the values its images get one by one.
    """
    import torch
    from torchvision.transforms.v2 import functional

    mean, std = list(info.mean), list(info.std)

    def normalize(x: torch.Tensor) -> torch.Tensor:
        x = functional.to_dtype(x.as_subclass(torch.Tensor), torch.float32, scale=True)
        out: torch.Tensor = functional.normalize(x, mean, std)
        return out

    return normalize


def build_transform(info: ModelInfo) -> Callable[[Any], torch.Tensor]:
    """The preprocessing that ``info`` prescribes: resize the shorter side, centre-crop, scale to [0, 1],
    normalise with the weights' mean and std. Works on PIL images and on uint8 or [0, 1] float tensors.
    """
    geometry, normalize = build_geometry(info), build_normalize(info)

    def transform(image: Any) -> torch.Tensor:
        return normalize(geometry(image))

    return transform
