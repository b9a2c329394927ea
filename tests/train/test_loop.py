"""The training loop: the fast recipe for an epoch, reproducible weights, resume after an interruption, and
bad training input as one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.features import cpu_has_native_bf16
from lookalike.train import Reporter, TrainConfig, get_recipe, train, weights_digest
from shared_data import needs_cifar

pytestmark = needs_cifar
runner = CliRunner()


def test_fast_recipe_one_epoch(tree: Path, tmp_path: Path) -> None:
    config = TrainConfig(data=str(tree), limit=40, val_split=0.25, runs_dir=str(tmp_path), name="fast")
    result = train(config, get_recipe("fast", epochs=1, batch_size=16))
    model = result.model
    assert model.conv1.kernel_size == (3, 3) and isinstance(model.maxpool, torch.nn.Identity)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # still a ResNet-18
    assert result.precision == ("bfloat16" if cpu_has_native_bf16() else "float32")  # the auto policy
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


class _StopAfter(Reporter):
    """Raises KeyboardInterrupt (as Ctrl-C would) once ``epochs`` epochs are complete and saved."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def epoch_end(self, row: Mapping[str, Any]) -> None:
        if row["epoch"] == self.epochs:
            raise KeyboardInterrupt


def test_resume_after_an_interruption_equals_an_uninterrupted_run(
    tree: Path, tmp_path: Path, one_line_error: Callable[[Any], str]
) -> None:
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
    assert "--epochs" in one_line_error(again)


def test_bad_training_input_is_one_line(
    tree: Path, tmp_path: Path, one_line_error: Callable[[Any], str]
) -> None:
    assert "--data" in one_line_error(runner.invoke(app, ["train"]))
    assert "no such folder" in one_line_error(runner.invoke(app, ["train", "--data", str(tmp_path / "nope")]))
    assert "recipe" in one_line_error(runner.invoke(app, ["train", "--data", str(tree), "--recipe", "slow"]))
    assert "--epochs" in one_line_error(runner.invoke(app, ["train", "--data", str(tree), "--epochs", "0"]))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.pt").write_bytes(b"x")
    line = one_line_error(
        runner.invoke(app, ["train", "--data", str(tree), "--runs-dir", str(tmp_path), "--name", "taken"])
    )
    assert "--resume" in line


def test_training_precision_is_bf16_where_inference_would_take_float16() -> None:
    from lookalike.train.loop import training_precision

    assert training_precision("auto", "cuda") == "bfloat16"  # no loss scaling needed (inference: float16)
    assert training_precision("float16", "cuda") == "float16"  # on request
    assert training_precision("float32", "cpu") == "float32"
    assert training_precision("auto", "cpu") == ("bfloat16" if cpu_has_native_bf16() else "float32")


def test_a_float32_run_is_scored_again_in_float32_and_agrees(tree: Path, tmp_path: Path) -> None:
    """The seed recipe validates in float32; evaluate-model's auto precision picks that, not the CPU's
    bfloat16, so the two accuracies are one number."""
    from lookalike.train import evaluate_checkpoint

    config = TrainConfig(data=str(tree), limit=40, val_split=0.25, runs_dir=str(tmp_path), name="seed")
    result = train(config, get_recipe("seed", epochs=1, batch_size=16))
    assert result.precision == "float32" and result.checkpoint is not None
    scored = evaluate_checkpoint(result.checkpoint, str(tree), split="val", device="cpu")
    assert scored.precision == "float32" and scored.images == 10
    assert scored.accuracy == pytest.approx(result.val_acc)
    other = evaluate_checkpoint(result.checkpoint, str(tree), split="val", device="cpu", precision="bfloat16")
    assert other.precision == "bfloat16"  # asked for explicitly, still honoured


def test_float16_training_scales_the_loss_and_keeps_the_scaler_for_a_resume(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """float16's range loses small gradients: a float16 run scales the loss (torch.amp.GradScaler) and saves
    the scale with the resumable state. The CLI refuses float16 on a CPU (slow, emulated), so the test asks
    the loop for it directly: autocast and the scaler both run on the CPU."""
    from lookalike.train import loop
    from lookalike.train.checkpoints import STATE_NAME

    monkeypatch.setattr(loop, "training_precision", lambda precision, device: "float16")
    config = TrainConfig(data=str(tree), limit=40, val_split=0.25, runs_dir=str(tmp_path), name="half")
    result = train(config, get_recipe("seed", epochs=1, batch_size=16))
    assert result.precision == "float16"
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    state = torch.load(result.checkpoint.parent / STATE_NAME, weights_only=False)
    assert state["scaler"]["scale"] > 0  # the scaler ran (a float32 run saves none)
    monkeypatch.undo()
    plain = train(
        TrainConfig(data=str(tree), limit=40, val_split=0.25, runs_dir=str(tmp_path), name="full"),
        get_recipe("seed", epochs=1, batch_size=16),
    )
    assert torch.load(plain.checkpoint.parent / STATE_NAME, weights_only=False)["scaler"] == {}
