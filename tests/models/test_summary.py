"""The ResNet paper's stage table, computed from the real model."""

from __future__ import annotations

import pytest

from lookalike.models import (
    summary,
)
from models.resnet_support import TORCHVISION_PARAMS

BLOCKS = {
    "resnet18": [2, 2, 2, 2],
    "resnet34": [3, 4, 6, 3],
    "resnet50": [3, 4, 6, 3],
    "resnet101": [3, 4, 23, 3],
    "resnet152": [3, 8, 36, 3],
}


def test_resnet18_summary_totals_match_torchsummary() -> None:
    s = summary("resnet18")
    assert s.total_params == 11_689_512
    assert f"{s.input_mb:.2f}" == "0.57"
    assert f"{s.forward_backward_mb:.2f}" == "62.79"
    assert f"{s.params_mb:.2f}" == "44.59"
    assert f"{s.total_mb:.2f}" == "107.96"
    assert f"{s.mult_adds / 1e9:.2f}" == "1.81"


@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_stage_table_rows_sizes_and_blocks(name: str) -> None:
    s = summary(name)
    assert [r.name for r in s.rows] == ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "output"]
    assert [r.output_size for r in s.rows] == [(112, 112), (56, 56), (28, 28), (14, 14), (7, 7), (1, 1)]
    assert [int(r.layers.rsplit("× ", 1)[1]) for r in s.rows[1:5]] == BLOCKS[name]
    assert sum(r.params for r in s.rows) == s.total_params == TORCHVISION_PARAMS[name]
    assert s.rows[0].layers == "7×7, 64, stride 2"
    assert s.rows[1].note == "3×3 max pool, stride 2"


def test_block_specs_follow_the_paper() -> None:
    assert summary("resnet18").rows[1].layers == "[3×3, 64; 3×3, 64] × 2"
    assert summary("resnet34").rows[4].layers == "[3×3, 512; 3×3, 512] × 3"
    assert summary("resnet50").rows[1].layers == "[1×1, 64; 3×3, 64; 1×1, 256] × 3"
    assert summary("resnet152").rows[3].layers == "[1×1, 256; 3×3, 256; 1×1, 1024] × 36"


def test_cifar_stem_summary_at_32x32() -> None:
    s = summary("resnet18", input_size=(3, 32, 32), cifar_stem=True, num_classes=10)
    assert s.total_params == 11_173_962
    assert [r.output_size[0] for r in s.rows] == [32, 32, 16, 8, 4, 1]
    assert s.rows[0].layers == "3×3, 64, stride 1" and s.rows[1].note is None


def test_summary_scales_with_batch_and_rejects_tiny_inputs() -> None:
    one, four = summary("resnet18"), summary("resnet18", batch_size=4)
    assert four.forward_backward_mb == pytest.approx(4 * one.forward_backward_mb)
    assert four.mult_adds == 4 * one.mult_adds
    assert summary("resnet50", input_size=(3, 8, 8)).rows[-2].output_size == (1, 1)
    with pytest.raises(ValueError, match="positive"):
        summary("resnet50", input_size=(3, 0, 8))
