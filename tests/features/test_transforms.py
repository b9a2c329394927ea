"""Preprocessing read from the weights: sizes, statistics, JPEG draft decoding."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lookalike.features.embedder as embedder
import lookalike.features.pipeline as pipeline
from feature_support import IMAGENET_MEAN, IMAGENET_STD, cifar_images, close, offline, photo
from lookalike.errors import LookalikeError
from lookalike.features import Embedder
from lookalike.models import CIFAR10_MEAN, CIFAR10_STD
from shared_data import WEIGHTS, needs_shared


@needs_shared
def test_cifar_checkpoint_preprocesses_to_32_pixels_with_its_statistics() -> None:
    emb = Embedder(str(WEIGHTS), device="cpu")
    info = emb.info
    assert (info.arch, info.cifar_stem, info.crop_size, info.resize_size) == ("resnet18", True, 32, 32)
    assert (info.mean, info.std) == (CIFAR10_MEAN, CIFAR10_STD)
    path = cifar_images(1)[0]
    x = emb.preprocess(path)
    raw = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1).float() / 255
    expected = (raw - torch.tensor(CIFAR10_MEAN)[:, None, None]) / torch.tensor(CIFAR10_STD)[:, None, None]
    assert x.shape == (3, 32, 32) and close(x, expected, 1e-6)


@pytest.mark.parametrize(
    ("arch", "weights", "resize"), [("resnet18", "IMAGENET1K_V1", 256), ("resnet50", "IMAGENET1K_V2", 232)]
)
def test_torchvision_names_take_torchvisions_preprocessing_without_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arch: str, weights: str, resize: int
) -> None:
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)  # metadata must not need it
    emb = Embedder(weights, model=arch, device="cpu")
    info = emb.info
    assert (info.crop_size, info.resize_size) == (224, resize)
    assert (info.mean, info.std) == (IMAGENET_MEAN, IMAGENET_STD)
    path = photo(tmp_path / "wide.png", (400, 300))
    x = emb.preprocess(path)
    assert x.shape == (3, 224, 224)
    # the same as resizing the shorter side to `resize` and cropping the centre by hand
    img = (
        Image.open(path).convert("RGB").resize((round(400 * resize / 300), resize), Image.Resampling.BILINEAR)
    )
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    crop = torch.from_numpy(np.asarray(img.crop((left, top, left + 224, top + 224))).copy()).permute(2, 0, 1)
    expected = (crop.float() / 255 - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[
        :, None, None
    ]
    assert (x - expected).abs().mean() < 0.02  # Pillow's and torch's resampling differ by rounding only


def test_jpeg_draft_mode_stops_at_twice_the_resize_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = Embedder("none", size=64, device="cpu", precision="float32")  # resize to 73, crop 64
    drafts: list[object] = []
    real = embedder.load_image

    def spy(path: Path, **kw: object) -> Image.Image:
        drafts.append(kw.get("draft"))
        return real(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(embedder, "load_image", spy)
    monkeypatch.setattr(pipeline, "load_image", spy)
    path = photo(tmp_path / "big.jpg", (1200, 900))
    emb.preprocess(path)
    list(emb.iter_files([path]))
    assert drafts == [(146, 146), (146, 146)]
    # so a 1200×900 JPEG decodes at 1/4 (300×225), not at 1/8 (150×112, which a 73-pixel resize allows)
    assert real(path, draft=(146, 146)).size == (300, 225)


def test_size_overrides_crop_and_scales_resize() -> None:
    emb = Embedder("none", model="resnet18", size=112, device="cpu")
    assert (emb.info.crop_size, emb.info.resize_size) == (112, 128)
    assert emb.preprocess(torch.rand(3, 300, 200)).shape == (3, 112, 112)
    with pytest.raises(LookalikeError, match="too small"):
        Embedder("none", size=4, device="cpu")


# ------------------------------------------------------------------------------------------------ weights


def _offline(*args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
