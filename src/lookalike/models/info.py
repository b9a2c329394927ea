"""What a set of weights needs in order to be used: the architecture, the preprocessing, the names.

Nothing else in lookalike guesses preprocessing: :class:`ModelInfo` comes with every loaded set of weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from lookalike.errors import WeightsError

if TYPE_CHECKING:
    import torch


MODEL_NAMES: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")

# (bottleneck blocks?, blocks per stage) -> name; the table in the ResNet paper.
_LAYOUTS: dict[tuple[bool, tuple[int, ...]], str] = {
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (True, (3, 8, 36, 3)): "resnet152",
}

# Per-channel statistics of the original CIFAR-10 training split (RGB, pixels in [0, 1]). Used only for a
# CIFAR-stem state dict that carries no metadata of its own; lookalike checkpoints store their own.
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
CIFAR_INPUT_SIZE = 32

CHECKPOINT_FORMAT = "lookalike-checkpoint"
CHECKPOINT_VERSION = 1

# Words that mean "no pretrained weights".
_RANDOM_WORDS = frozenset({"none", "random", "scratch"})


@dataclass(frozen=True)
class ModelInfo:
    """What a set of weights needs in order to be used: the architecture and the preprocessing.

    It travels with lookalike checkpoints and is derived from torchvision's weight metadata or from the
    tensors of a plain state dict. ``resize_size`` is the shorter side images are resized to before a
    centre crop of ``crop_size``.
    """

    arch: str
    cifar_stem: bool
    num_classes: int
    crop_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: tuple[str, ...] | None = None
    interpolation: str = "bilinear"
    source: str = "random"
    fingerprint: str = "random"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def embed_dim(self) -> int:
        """Length of the feature vector: 512 for resnet18/34, 2048 for resnet50/101/152."""
        return 512 if self.arch in ("resnet18", "resnet34") else 2048

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so it can be stored with ``torch.save`` and read with ``weights_only=True``."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["classes"] = list(self.classes) if self.classes is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelInfo:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        kw["mean"] = tuple(float(x) for x in kw["mean"])
        kw["std"] = tuple(float(x) for x in kw["std"])
        if kw.get("classes") is not None:
            kw["classes"] = tuple(kw["classes"])
        return cls(**kw)


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`.

    >>> list_models()
    ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']
    """
    return list(MODEL_NAMES)


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a known ResNet, else raise a one-line error listing the valid names."""
    if name not in MODEL_NAMES:
        raise WeightsError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    return name


def _imagenet_info(arch: str) -> ModelInfo:
    """Preprocessing of torchvision's default ImageNet weights for ``arch`` (read from torchvision)."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(arch).DEFAULT
    return _info_from_enum(arch, weights, num_classes=1000)


def _info_from_enum(arch: str, weights: Any, *, num_classes: int) -> ModelInfo:
    t = weights.transforms()
    return ModelInfo(
        arch=arch,
        cifar_stem=False,
        num_classes=num_classes,
        crop_size=int(t.crop_size[0]),
        resize_size=int(t.resize_size[0]),
        mean=tuple(float(x) for x in t.mean),  # type: ignore[arg-type]
        std=tuple(float(x) for x in t.std),  # type: ignore[arg-type]
        classes=tuple(weights.meta["categories"]),
        interpolation=str(t.interpolation.value),
        source=f"torchvision:{weights}",
        fingerprint=f"torchvision:{weights}",
    )


def _cifar_info(arch: str, num_classes: int, source: str, fingerprint: str) -> ModelInfo:
    return ModelInfo(
        arch=arch,
        cifar_stem=True,
        num_classes=num_classes,
        crop_size=CIFAR_INPUT_SIZE,
        resize_size=CIFAR_INPUT_SIZE,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        source=source,
        fingerprint=fingerprint,
    )


def random_info(arch: str = "resnet18", *, cifar_stem: bool = False, num_classes: int = 1000) -> ModelInfo:
    """Metadata for randomly initialised weights: ImageNet (or CIFAR) preprocessing, no classes."""
    check_model_name(arch)
    if cifar_stem:
        return _cifar_info(arch, num_classes, "random", "random")
    return replace(
        _imagenet_info(arch), num_classes=num_classes, classes=None, source="random", fingerprint="random"
    )


def infer_architecture(state: Mapping[str, torch.Tensor], *, where: str = "weights") -> tuple[str, bool, int]:
    """Read ``(arch, cifar_stem, num_classes)`` off a torchvision-layout ResNet state dict.

    ``num_classes`` is 0 when the dict has no ``fc``.
    """
    if "conv1.weight" not in state or "layer1.0.conv1.weight" not in state:
        sample = ", ".join(list(state)[:3])
        raise WeightsError(
            f"{where} is not a torchvision ResNet state dict (keys start {sample}); pass "
            "resnet18/34/50/101/152 weights"
        )
    bottleneck = "layer1.0.conv3.weight" in state
    blocks = []
    for stage in range(1, 5):
        ids = {int(m.group(1)) for k in state if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        blocks.append(len(ids))
    arch = _LAYOUTS.get((bottleneck, tuple(blocks)))
    if arch is None:
        raise WeightsError(f"{where} is a ResNet with blocks {blocks}, not one of {', '.join(MODEL_NAMES)}")
    kernel = state["conv1.weight"].shape[-1]
    if kernel not in (3, 7):
        raise WeightsError(f"{where} has a {kernel}×{kernel} first convolution; expected 7×7 or 3×3")
    num_classes = int(state["fc.weight"].shape[0]) if "fc.weight" in state else 0
    return arch, kernel == 3, num_classes
