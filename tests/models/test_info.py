"""What the tensors of a state dict say about the network."""

from __future__ import annotations

import pytest
import torch

from lookalike.models import (
    create_model,
    infer_architecture,
)


@pytest.mark.parametrize(
    ("name", "bottleneck"),
    [("resnet18", False), ("resnet50", True), ("resnet101", True), ("resnet152", True), ("resnet34", False)],
)
def test_depth_is_inferred_from_the_tensors(name: str, bottleneck: bool) -> None:
    with torch.device("meta"):
        state = create_model(name).state_dict()
    assert infer_architecture(state) == (name, False, 1000)
    assert ("layer1.0.conv3.weight" in state) == bottleneck
