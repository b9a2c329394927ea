"""Building ResNets: the five depths, parameter counts, stems and heads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from lookalike.errors import WeightsError
from lookalike.models import (
    create_model,
    list_models,
    model_info,
)
from models.resnet_support import TORCHVISION_PARAMS


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_list_models_names_the_five_depths() -> None:
    assert list_models() == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_parameter_counts_with_1000_classes_are_torchvisions(name: str) -> None:
    with torch.device("meta"):  # no memory, no init work: only the shapes matter here
        model = create_model(name)
    assert n_params(model) == TORCHVISION_PARAMS[name]


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(WeightsError, match="resnet18, resnet34, resnet50, resnet101, resnet152"):
        create_model("resnet9")


def test_cifar_stem_is_a_3x3_stride_1_conv_without_max_pool() -> None:
    model = create_model("resnet18", num_classes=10, cifar_stem=True)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert n_params(model) == 11_173_962
    x = torch.randn(2, 3, 32, 32)
    assert model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x))))).shape[-1] == 32
    assert model(x).shape == (2, 10)


@pytest.mark.parametrize(("name", "dim"), [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)])
def test_num_classes_zero_gives_the_embedding(name: str, dim: int) -> None:
    model = create_model(name, num_classes=0).eval()
    assert isinstance(model.fc, nn.Identity)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, dim)
    assert model_info(model).embed_dim == dim


def test_a_different_num_classes_replaces_the_classifier(tmp_path: Path) -> None:
    source = create_model("resnet18", num_classes=1000)
    path = tmp_path / "imagenet-layout.pt"
    torch.save(source.state_dict(), path)
    model = create_model("resnet18", num_classes=10, weights=path)
    assert model.fc.out_features == 10
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
