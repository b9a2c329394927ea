"""The run folder: every file a run writes, the checkpoint loading everywhere as weights, and broken or
foreign checkpoints as one line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from lookalike.cli import app
from shared_data import needs_cifar

pytestmark = needs_cifar
runner = CliRunner()


def test_seed_recipe_through_the_cli_and_its_checkpoint_everywhere(tree: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(tree),
            "--recipe",
            "seed",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--val-split",
            "0.25",
            "--runs-dir",
            str(tmp_path),
            "--name",
            "seed",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "seed"
    for name in ("model.pt", "last.pt", "metrics.csv", "metrics.json", "curves.png", "confusion.png"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["recipe"]["name"] == "seed" and len(summary["epochs"]) == 1
    assert summary["data"]["train_images"] == 60 and summary["data"]["val_images"] == 20
    assert sum(map(sum, summary["confusion"])) == 20
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss,train_acc,val_loss")

    # the checkpoint carries what preprocessing needs, and loads as --weights everywhere
    from lookalike.compare import compare
    from lookalike.features import Embedder
    from lookalike.models import create_model, load_weights

    emb = Embedder(str(run / "model.pt"), device="cpu")
    assert (emb.info.arch, emb.info.cifar_stem, emb.info.crop_size, emb.info.resize_size) == (
        "resnet18",
        False,
        32,
        32,
    )
    assert list(emb.info.mean) == summary["data"]["mean"] and list(emb.info.std) == summary["data"]["std"]
    _, info = load_weights(run / "model.pt")
    assert list(info.classes or ()) == sorted(p.name for p in tree.iterdir()) and info.num_classes == 10
    assert info.extra["recipe"]["name"] == "seed" and info.extra["metrics"][0]["epoch"] == 1
    assert {"torch", "torchvision", "lookalike"} <= set(info.extra["versions"]) and info.extra["seed"] == 0
    cat = sorted((tree / "cat").iterdir())
    assert emb.embed(cat[:2]).shape == (2, 512)
    net = create_model(None, num_classes=10, weights=run / "model.pt")
    assert net.conv1.kernel_size == (7, 7) and net.fc.out_features == 10
    report = compare(cat[0], cat[1], weights=str(run / "model.pt"), device="cpu")
    assert report.features is not None and report.input_size == 32

    # evaluate-model re-scores the same held-out images and finds the validation accuracy of the run
    out = runner.invoke(
        app,
        [
            "evaluate-model",
            str(run),
            "--data",
            str(tree),
            "--split",
            "val",
            "--json",
            "--confusion",
            str(tmp_path / "c.png"),
        ],
    )
    assert out.exit_code == 0, out.output
    scored = json.loads(out.stdout)
    assert scored["images"] == 20 and scored["accuracy"] == pytest.approx(summary["epochs"][-1]["val_acc"])
    assert scored["confusion"] == summary["confusion"] and (tmp_path / "c.png").is_file()
    table = runner.invoke(app, ["evaluate-model", str(run / "model.pt"), "--data", str(tree)])
    assert table.exit_code == 0 and "Confusion matrix" in table.output and "80 images" in table.output


def test_broken_or_foreign_checkpoints_are_one_line(
    tree: Path, tmp_path: Path, one_line_error: Callable[[Any], str]
) -> None:
    from lookalike.models import create_model, model_info, save_checkpoint

    net = create_model("resnet18", num_classes=10, cifar_stem=True)
    good = save_checkpoint(tmp_path / "good.pt", net, model_info(net))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": [1, 2, 3]}, foreign)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")

    for bad in (truncated, foreign, text):
        line = one_line_error(
            runner.invoke(
                app,
                [
                    "train",
                    "--data",
                    str(tree),
                    "--weights",
                    str(bad),
                    "--epochs",
                    "1",
                    "--runs-dir",
                    str(tmp_path / "r"),
                ],
            )
        )
        assert str(bad) in line
        assert str(bad) in one_line_error(
            runner.invoke(app, ["evaluate-model", str(bad), "--data", str(tree)])
        )

    run = tmp_path / "runs" / "broken"
    run.mkdir(parents=True)
    assert "last.pt" in one_line_error(runner.invoke(app, ["train", "--resume", str(run)]))
    (run / "last.pt").write_bytes(truncated.read_bytes())
    assert "truncated" in one_line_error(runner.invoke(app, ["train", "--resume", str(run)]))
    shutil.copy(good, run / "last.pt")  # a model checkpoint is not a training state
    assert "not a lookalike training state" in one_line_error(
        runner.invoke(app, ["train", "--resume", str(run)])
    )
