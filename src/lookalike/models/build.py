"""Building ResNets: one factory for resnet18/34/50/101/152 (an embedding head with ``num_classes=0``,
a CIFAR stem for 32×32 inputs) and loading tensors into them with one-line errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from lookalike.errors import WeightsError
from lookalike.models.info import ModelInfo, check_model_name
from lookalike.models.weights import load_weights

if TYPE_CHECKING:
    import os

    import torch
    from torch import nn


def _build(arch: str, *, num_classes: int, cifar_stem: bool) -> nn.Module:
    import torchvision
    from torch import nn

    model: nn.Module = getattr(torchvision.models, check_model_name(arch))(
        weights=None, num_classes=num_classes
    )
    if cifar_stem:
        # 32×32 inputs: a 3×3 stride-1 first convolution and no max-pool keep 32×32 into layer1.
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


def create_model(
    name: str | None,
    *,
    num_classes: int = 1000,
    weights: str | os.PathLike[str] | None = None,
    cifar_stem: bool | None = None,
) -> nn.Module:
    """Build a torchvision ResNet, optionally with weights, and a classifier of ``num_classes`` outputs.

    ``num_classes=0`` removes the classifier: the model returns its pooled features (512-d or 2048-d).
    A ``num_classes`` different from the weights' replaces ``fc`` with a fresh ``Linear`` layer (transfer
    learning). ``cifar_stem=True`` swaps the 7×7 stride-2 convolution and max-pool for a 3×3 stride-1
    convolution; with weights, the stem is read from them. ``name=None`` takes the depth from the weights.
    The resolved :class:`ModelInfo` is attached as ``model.lookalike_info`` (see :func:`model_info`).

    >>> net = create_model("resnet18", num_classes=10, cifar_stem=True)
    >>> sum(p.numel() for p in net.parameters())
    11173962
    """
    from torch import nn

    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    state, info = load_weights(weights, arch=name, cifar_stem=cifar_stem)
    head = info.num_classes if state is not None and info.num_classes > 0 else max(num_classes, 1)
    model = _build(info.arch, num_classes=head, cifar_stem=info.cifar_stem)
    if state is not None:
        load_state(model, state, where=info.source.removeprefix("file:"))
    if num_classes == 0:
        model.fc = nn.Identity()
    elif model.fc.out_features != num_classes:  # type: ignore[union-attr]
        model.fc = nn.Linear(model.fc.in_features, num_classes)  # type: ignore[union-attr, arg-type]
    keep_classes = info.classes if num_classes == info.num_classes else None
    model.lookalike_info = replace(info, num_classes=num_classes, classes=keep_classes)  # type: ignore[assignment]
    return model


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], *, where: str = "weights") -> None:
    """Load ``state`` into ``model``; a state dict without ``fc`` is fine, anything else must match."""
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not (k.startswith("fc.") and "fc.weight" not in state)]
    if missing or result.unexpected_keys:
        bad = (missing or result.unexpected_keys)[:3]
        raise WeightsError(
            f"{where} does not fit the model ({len(missing)} missing, "
            f"{len(result.unexpected_keys)} unexpected keys, e.g. {', '.join(bad)})"
        )


def model_info(model: nn.Module) -> ModelInfo:
    """The :class:`ModelInfo` attached by :func:`create_model`."""
    info = getattr(model, "lookalike_info", None)
    if not isinstance(info, ModelInfo):
        raise TypeError("model was not made by lookalike.create_model, so it carries no ModelInfo")
    return info
