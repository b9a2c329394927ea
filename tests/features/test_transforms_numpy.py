"""The NumPy preprocessing against its torch twin (lookalike.features): same pixels, same values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lookalike.errors import LookalikeError
from lookalike.features import build_geometry, build_normalize
from lookalike.features.transforms_numpy import geometry, normalize
from lookalike.models import CIFAR10_MEAN, CIFAR10_STD, random_info


def picture(w: int, h: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    arr = np.stack([255 * xx / w, 255 * yy / h, 128 + 60 * np.sin(xx / 5)], -1) + rng.normal(0, 20, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert(mode)


@pytest.mark.parametrize(
    ("size", "crop", "resize"),
    [
        ((640, 480), 224, 256),  # landscape photo, ImageNet preprocessing
        ((300, 517), 224, 256),  # portrait, odd sizes
        ((32, 32), 32, 32),  # CIFAR: nothing to do
        ((50, 40), 32, 32),  # upscale-free downscale to the CIFAR size
        ((20, 12), 32, 36),  # smaller than the crop: upsampled
        ((256, 300), 224, 256),  # the shorter side already at the resize size: crop only
    ],
)
def test_geometry_gives_the_torch_pixels(size: tuple[int, int], crop: int, resize: int) -> None:
    from dataclasses import replace

    info = replace(random_info("resnet18"), crop_size=crop, resize_size=resize)
    for seed, mode in enumerate(("RGB", "L", "RGBA")):
        img = picture(*size, seed=seed, mode=mode)
        want = build_geometry(info)(img).permute(1, 2, 0).numpy()
        got = geometry(img, resize=resize, crop=crop, interpolation=info.interpolation)
        assert got.shape == want.shape == (crop, crop, 3) and got.dtype == np.uint8
        diff = np.abs(got.astype(int) - want.astype(int))
        # one level of rounding at most, on a few pixels (1-8 % of these noisy pictures' values)
        assert diff.max() <= 1 and diff.mean() < 0.1


def test_geometry_pads_an_image_smaller_than_the_crop_as_torchvision_does() -> None:
    from torchvision.transforms.v2 import functional

    img = picture(10, 7)
    want = functional.center_crop(torch.from_numpy(np.array(img)).permute(2, 0, 1), [16]).permute(1, 2, 0)
    got = geometry(img, resize=7, crop=16)  # shorter side already 7: no resize, only the padded crop
    assert np.array_equal(got, want.numpy())


def test_normalize_gives_the_torch_values() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    info = random_info("resnet18", cifar_stem=True)
    want = build_normalize(info)(torch.from_numpy(pixels).permute(0, 3, 1, 2)).numpy()
    got = normalize(pixels, CIFAR10_MEAN, CIFAR10_STD)
    assert got.shape == (2, 3, 32, 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert normalize(pixels[0], CIFAR10_MEAN, CIFAR10_STD).shape == (3, 32, 32)


def test_unknown_interpolation_is_one_clear_line() -> None:
    with pytest.raises(LookalikeError, match=r"interpolation 'lanczos'.*bilinear"):
        geometry(picture(40, 40), resize=32, crop=32, interpolation="lanczos")
