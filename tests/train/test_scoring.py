"""Scoring a classifier checkpoint: classes matched by name, the run's own split, errors as one line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from lookalike.cli import app
from shared_data import needs_cifar

pytestmark = needs_cifar
runner = CliRunner()


def test_bad_evaluation_input_is_one_line(
    tree: Path, tmp_path: Path, one_line_error: Callable[[Any], str]
) -> None:
    other = tmp_path / "other"
    (other / "zebra").mkdir(parents=True)
    shutil.copy(next((tree / "cat").iterdir()), other / "zebra" / "z.jpg")
    net_dir = tmp_path / "net"
    from lookalike.models import create_model, model_info, save_checkpoint

    net = create_model("resnet18", num_classes=10, cifar_stem=True)
    from dataclasses import replace

    info = replace(model_info(net), classes=tuple(sorted(p.name for p in tree.iterdir())))
    save_checkpoint(net_dir / "model.pt", net, info)
    assert "zebra" in one_line_error(
        runner.invoke(app, ["evaluate-model", str(net_dir), "--data", str(other)])
    )
    assert "--split" in one_line_error(
        runner.invoke(app, ["evaluate-model", str(net_dir), "--data", str(tree), "--split", "val"])
    )
