"""The commands on the networks (summary, models) as a user meets them: tables, JSON, and one clear line for
every bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

Invoke = Any


def test_summary_prints_the_stage_table_and_torchsummary_totals(invoke: Invoke) -> None:
    code, out = invoke("summary", "resnet18")
    assert code == 0, out
    for text in (
        "conv1",
        "conv2_x",
        "conv5_x",
        "112×112",
        "7×7",
        "[3×3, 64; 3×3, 64] × 2",
        "11,689,512",
        "0.57",
        "62.79",
        "44.59",
        "107.96",
        "1.81",
    ):
        assert text in out, text


def test_summary_json_and_options(invoke: Invoke) -> None:
    code, out = invoke("summary", "resnet50", "--input", "3x32x32", "--cifar-stem", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["input_size"] == [3, 32, 32] and data["rows"][1]["layers"].endswith("× 3")
    assert data["rows"][0]["output_size"] == [32, 32]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "resnet9"], "unknown model 'resnet9'"),
        (["summary", "resnet18", "--input", "224"], "expected C×H×W"),
    ],
)
def test_summary_bad_input(args: list[str], message: str, invoke: Invoke) -> None:
    code, out = invoke(*args)
    assert code != 0 and message in out


def test_models_lists_counts_and_feature_sizes(invoke: Invoke) -> None:
    code, out = invoke("models", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["resnet152"]["params"] == 60_192_808 and rows["resnet152"]["feature_dim"] == 2048
    assert rows["resnet34"]["blocks"] == [3, 4, 6, 3] and rows["resnet34"]["feature_dim"] == 512
