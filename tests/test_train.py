"""Training: both recipes on a few real CIFAR-10 images, checkpoints everywhere, reproducibility, resume,
two-process DistributedDataParallel on the CPU, and one-line errors for broken checkpoints.

Every run is one or two epochs of 32×32 images on the CPU, so the numbers say nothing about accuracy.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.train import (
    FAST,
    SEED,
    Reporter,
    TrainConfig,
    get_recipe,
    lr_factor,
    train,
    weights_digest,
)
from shared_data import CIFAR as SHARED_TRAIN
from shared_data import needs_cifar

pytestmark = needs_cifar
runner = CliRunner()


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 real images of each CIFAR-10 class, as an ImageFolder tree."""
    root = tmp_path_factory.mktemp("cifar") / "train"
    for folder in sorted(SHARED_TRAIN.iterdir()):
        (root / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:8]:
            shutil.copy2(image, root / folder.name / image.name)
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKALIKE_CACHE", str(cache_dir))


def _one_line_error(result: Any) -> str:
    """The CLI's message for a known error: exit code 1, one line, no traceback."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert lines[0].startswith("error:")
    return lines[0]


# ----------------------------------------------------------------------------------------------------------
# Recipes


def test_recipes_are_the_ones_the_issue_describes() -> None:
    assert (SEED.arch, SEED.cifar_stem, SEED.optimizer, SEED.lr, SEED.batch_size) == (
        "resnet18",
        False,
        "adam",
        1e-3,
        512,
    )
    assert (SEED.loader, SEED.crop_pad, SEED.flip, SEED.label_smoothing, SEED.precision) == (
        "dataloader",
        0,
        "none",
        0.0,
        "float32",
    )
    assert SEED.schedule == "constant" and not SEED.tta and not SEED.channels_last
    assert (FAST.arch, FAST.cifar_stem, FAST.loader, FAST.optimizer, FAST.nesterov) == (
        "resnet18",
        True,
        "device",
        "sgd",
        True,
    )
    assert FAST.schedule == "onecycle" and FAST.label_smoothing > 0 and FAST.tta and FAST.crop_pad == 4
    assert FAST.precision == "auto" and FAST.channels_last
    assert get_recipe("fast", epochs=3, lr=None).epochs == 3
    from lookalike.errors import LookalikeError

    with pytest.raises(LookalikeError, match="unknown recipe"):
        get_recipe("slow")


def test_onecycle_rises_to_the_peak_and_falls_to_zero() -> None:
    factors = [lr_factor(s, 100, FAST) for s in range(100)]
    peak = factors.index(max(factors))
    assert max(factors) == 1.0 and peak == round(100 * FAST.warmup) - 1
    assert all(a < b for a, b in itertools.pairwise(factors[: peak + 1]))
    assert all(a > b for a, b in itertools.pairwise(factors[peak:]))
    assert 0 < factors[-1] <= 0.02
    assert {lr_factor(s, 100, SEED) for s in range(100)} == {1.0}


# ----------------------------------------------------------------------------------------------------------
# Smoke runs and the checkpoint everywhere


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


def test_fast_recipe_one_epoch(tree: Path, tmp_path: Path) -> None:
    config = TrainConfig(data=str(tree), limit=40, val_split=0.25, runs_dir=str(tmp_path), name="fast")
    result = train(config, get_recipe("fast", epochs=1, batch_size=16))
    model = result.model
    assert model.conv1.kernel_size == (3, 3) and isinstance(model.maxpool, torch.nn.Identity)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # still a ResNet-18
    assert result.precision == "float32" or torch.backends.cpu.get_cpu_capability().startswith("AMX")
    assert len(result.epochs) == 1 and result.epochs[0]["images_per_s"] > 0
    assert result.info.cifar_stem and result.info.classes == tuple(sorted(p.name for p in tree.iterdir()))
    assert result.checkpoint is not None and result.checkpoint.is_file()
    from lookalike.train import evaluate_checkpoint

    scored = evaluate_checkpoint(result.checkpoint, str(tree), split="val", device="cpu")
    assert scored.tta and scored.images == 10
    assert scored.accuracy == pytest.approx(result.val_acc)


def test_a_fixed_seed_reproduces_the_weights(tree: Path) -> None:
    config = TrainConfig(data=str(tree), limit=16, val_split=0.0, save=False, seed=3)
    recipe = get_recipe("seed", epochs=1, batch_size=8)  # two steps: shuffling matters
    first = train(config, recipe)
    second = train(config, recipe)
    assert first.digests == second.digests
    assert weights_digest(first.model) == weights_digest(second.model)
    other = train(TrainConfig(data=str(tree), limit=16, val_split=0.0, save=False, seed=4), recipe)
    assert other.digests != first.digests


# ----------------------------------------------------------------------------------------------------------
# Resume


class _StopAfter(Reporter):
    """Raises KeyboardInterrupt (as Ctrl-C would) once ``epochs`` epochs are complete and saved."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def epoch_end(self, row: Mapping[str, Any]) -> None:
        if row["epoch"] == self.epochs:
            raise KeyboardInterrupt


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tree: Path, tmp_path: Path) -> None:
    recipe = get_recipe("fast", epochs=2, batch_size=16)  # one step per epoch: momentum, schedule and the
    # alternating flip all carry over the interruption

    def config(name: str) -> TrainConfig:
        return TrainConfig(data=str(tree), limit=16, val_split=0.0, runs_dir=str(tmp_path), name=name, seed=1)

    whole = train(config("whole"), recipe)
    with pytest.raises(KeyboardInterrupt):
        train(config("cut"), recipe, reporter=_StopAfter(1))
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["optimizer"]["state"]  # momentum buffers are saved
    from lookalike.models import load_weights

    _, info = load_weights(tmp_path / "cut" / "model.pt")  # the last good checkpoint loads as --weights
    assert info.extra["epoch"] == 1

    out = runner.invoke(app, ["train", "--resume", str(tmp_path / "cut"), "--json"])
    assert out.exit_code == 0, out.output
    resumed = json.loads(out.stdout)
    assert resumed["epochs_done"] == 2
    assert resumed["weights_sha256"] == whole.digests  # bit for bit, as if never interrupted
    rows = json.loads((tmp_path / "cut" / "metrics.json").read_text())["epochs"]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["train_loss"] == pytest.approx(whole.epochs[1]["train_loss"])

    # --resume takes only the options that do not change the run
    again = runner.invoke(app, ["train", "--resume", str(tmp_path / "cut"), "--epochs", "5"])
    assert "--epochs" in _one_line_error(again)


# ----------------------------------------------------------------------------------------------------------
# DistributedDataParallel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_with_gloo_end_identical_and_only_rank_0_writes(
    tree: Path, tmp_path: Path, cache_dir: Path
) -> None:
    """Two ``python -m lookalike train`` processes with the environment torchrun gives its workers."""
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": "2",
            "OMP_NUM_THREADS": "1",
            "LOOKALIKE_CACHE": str(cache_dir),
        }
        # each rank gets its own --runs-dir: a folder appearing under rank 1's would be a write by rank 1
        args = [
            sys.executable,
            "-m",
            "lookalike",
            "train",
            "--data",
            str(tree),
            "--limit",
            "32",
            "--val-split",
            "0.25",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--runs-dir",
            str(tmp_path / f"runs{rank}"),
            "--name",
            "ddp",
            "--json",
        ]
        procs.append(
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, errors) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, errors[-3000:]
    assert outputs[1][0].strip() == "" and not (tmp_path / "runs1").exists()
    summary = json.loads((tmp_path / "runs0" / "ddp" / "metrics.json").read_text())
    ddp = summary["distributed"]
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    assert len(ddp["weights_sha256"]) == 2 and ddp["replicas_identical"]
    assert len(set(ddp["weights_sha256"])) == 1
    assert summary["data"]["train_images"] + summary["data"]["val_images"] == 32
    assert summary["epochs"][0]["train_acc"] is not None and summary["epochs"][0]["val_acc"] is not None
    assert json.loads(outputs[0][0])["weights_sha256"] == ddp["weights_sha256"]


# ----------------------------------------------------------------------------------------------------------
# Broken input: one line each


def test_broken_or_foreign_checkpoints_are_one_line(tree: Path, tmp_path: Path) -> None:
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
        line = _one_line_error(
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
        assert str(bad) in _one_line_error(
            runner.invoke(app, ["evaluate-model", str(bad), "--data", str(tree)])
        )

    run = tmp_path / "runs" / "broken"
    run.mkdir(parents=True)
    assert "last.pt" in _one_line_error(runner.invoke(app, ["train", "--resume", str(run)]))
    (run / "last.pt").write_bytes(truncated.read_bytes())
    assert "truncated" in _one_line_error(runner.invoke(app, ["train", "--resume", str(run)]))
    shutil.copy(good, run / "last.pt")  # a model checkpoint is not a training state
    assert "not a lookalike training state" in _one_line_error(
        runner.invoke(app, ["train", "--resume", str(run)])
    )


def test_bad_training_input_is_one_line(tree: Path, tmp_path: Path) -> None:
    assert "--data" in _one_line_error(runner.invoke(app, ["train"]))
    assert "no such folder" in _one_line_error(
        runner.invoke(app, ["train", "--data", str(tmp_path / "nope")])
    )
    assert "recipe" in _one_line_error(runner.invoke(app, ["train", "--data", str(tree), "--recipe", "slow"]))
    assert "--epochs" in _one_line_error(runner.invoke(app, ["train", "--data", str(tree), "--epochs", "0"]))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.pt").write_bytes(b"x")
    line = _one_line_error(
        runner.invoke(app, ["train", "--data", str(tree), "--runs-dir", str(tmp_path), "--name", "taken"])
    )
    assert "--resume" in line
    other = tmp_path / "other"
    (other / "zebra").mkdir(parents=True)
    shutil.copy(next((tree / "cat").iterdir()), other / "zebra" / "z.jpg")
    net_dir = tmp_path / "net"
    from lookalike.models import create_model, model_info, save_checkpoint

    net = create_model("resnet18", num_classes=10, cifar_stem=True)
    from dataclasses import replace

    info = replace(model_info(net), classes=tuple(sorted(p.name for p in tree.iterdir())))
    save_checkpoint(net_dir / "model.pt", net, info)
    assert "zebra" in _one_line_error(
        runner.invoke(app, ["evaluate-model", str(net_dir), "--data", str(other)])
    )
    assert "--split" in _one_line_error(
        runner.invoke(app, ["evaluate-model", str(net_dir), "--data", str(tree), "--split", "val"])
    )
