"""Helpers shared by the feature and ONNX tests: photo-like pictures, CIFAR files, real BatchNorm."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from shared_data import CIFAR

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def photo(path: Path, size: tuple[int, int] = (96, 64), seed: int = 0, quality: int = 95) -> Path:
    """A smooth, photo-like picture (gradients, a disc, fine noise) saved as ``path``."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r, g = 255 * xx / w, 255 * yy / h
    b = np.where(
        (xx - rng.uniform(0, w)) ** 2 + (yy - rng.uniform(0, h)) ** 2 < (min(w, h) / 3) ** 2, 220, 40
    )
    arr = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    img.save(path, quality=quality) if path.suffix == ".jpg" else img.save(path)
    return path


def cifar_images(n: int) -> list[Path]:
    """The first ``n`` CIFAR-10 training JPEGs of ../shared, classes interleaved."""
    per_class = [sorted(d.glob("*.jpg")) for d in sorted(CIFAR.iterdir()) if d.is_dir()]
    return [p for group in zip(*per_class, strict=False) for p in group][:n]


def randomize_batchnorm(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics, so that folding and loading them is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


def features_of(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the source network itself says: pooled features, float32, classifier removed."""
    head = net.fc
    net.fc = nn.Identity()
    try:
        with torch.inference_mode():
            return net.eval()(x)
    finally:
        net.fc = head


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    """Equal up to float rounding, relative to the vectors' scale."""
    return bool((a - b).abs().max() <= tol * max(1.0, float(b.abs().max())))


def offline(*args: object, **kwargs: object) -> None:
    """Stands in for torch.hub's download on a machine without internet."""
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
