"""The run folder: its name, the files written after every epoch (``last.pt``, ``model.pt``, metrics,
curves) and at the end (summary, confusion matrix), the versions recorded, and reading ``last.pt`` back.

Each file is written beside its target and renamed over it, so a killed run keeps the previous epoch.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike import __version__
from lookalike.data import atomic_save, atomic_write
from lookalike.download import reason
from lookalike.errors import LookalikeError, WeightsError
from lookalike.models import save_checkpoint
from lookalike.report import plot_confusion, plot_curves
from lookalike.train.config import TrainConfig
from lookalike.train.distributed import _Dist
from lookalike.train.scoring import per_class
from lookalike.train.state import (
    CHECKPOINT_NAME,
    STATE_NAME,
    TRAIN_STATE_FORMAT,
    TRAIN_STATE_VERSION,
    RunState,
    TrainResult,
)

if TYPE_CHECKING:
    import torch


def _run_dir(config: TrainConfig, dist: _Dist, *, resuming: bool) -> Path:
    """``runs_dir/name``; rank 0 picks the default name (a timestamp) and tells the others."""
    root = Path(config.runs_dir)
    name = config.name
    if name is None:
        name = time.strftime("%Y%m%d-%H%M%S")
        if dist.main:
            base, n = name, 2
            while (root / name).exists():
                name, n = f"{base}-{n}", n + 1
        if dist.world > 1:
            import torch.distributed

            box: list[Any] = [name]
            torch.distributed.broadcast_object_list(box, src=0)
            name = str(box[0])
    elif not resuming and ((root / name / CHECKPOINT_NAME).exists() or (root / name / STATE_NAME).exists()):
        raise LookalikeError(
            f"run folder {root / name} already holds a run",
            f"pass another `name`, or continue it with `resume={root / name}`",
        )
    if not name or Path(name).name != name:
        raise LookalikeError(
            f"run name {name!r} must be a plain folder name (no slashes)", "pass another `name`"
        )
    return root / name


def read_train_state(path: Path) -> dict[str, Any]:
    """The training state in ``last.pt``; a missing, truncated or foreign file is one clear error."""
    import pickle

    import torch

    if not path.exists():
        raise WeightsError(
            f"{path} not found",
            f"`resume` takes a run folder made by lookalike train (runs/<name>) that holds {STATE_NAME}",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsError(
            f"{path} is not a lookalike training state (it holds pickled objects)",
            "pass the folder of a run made by lookalike train",
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise WeightsError(
            f"{path} is not readable ({reason(exc)})",
            "it may be truncated: resume from an intact run folder or start again",
        ) from None
    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        raise WeightsError(
            f"{path} is not a lookalike training state", "`resume` takes a run folder made by lookalike train"
        )
    if int(state.get("version", 0)) > TRAIN_STATE_VERSION:
        raise WeightsError(f"{path} was written by a newer lookalike", "upgrade lookalike to resume it")
    for key in ("epoch", "model", "optimizer", "scheduler", "recipe", "config", "metrics"):
        if key not in state:
            raise WeightsError(f"{path} lacks {key!r}: the training state is damaged", "start the run again")
    return state


def versions(device: torch.device) -> dict[str, str | None]:
    """Library and hardware versions recorded with every run."""
    import torch
    import torchvision

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "lookalike": __version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
        "cuda": str(torch.version.cuda) if torch.version.cuda else None,
        "gpu": gpu,
        "cpu": platform.processor() or platform.machine(),
    }


def _save_epoch(run: RunState) -> None:
    """After each epoch: last.pt (resume state), model.pt (weights + metadata), metrics files, curves.png."""
    assert run.run_dir is not None
    run_dir, recipe, config, rows = run.run_dir, run.recipe, run.config, run.rows
    epoch = int(rows[-1]["epoch"])
    atomic_save(
        {
            "format": TRAIN_STATE_FORMAT,
            "version": TRAIN_STATE_VERSION,
            "epoch": epoch,
            "model": {k: v.detach().cpu() for k, v in run.model.state_dict().items()},
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict() if run.scaler is not None else {},
            "recipe": recipe.to_dict(),
            "config": config.to_dict(),
            "metrics": rows,
        },
        run_dir / STATE_NAME,
    )
    save_checkpoint(
        run_dir / CHECKPOINT_NAME,
        run.model,
        run.info,
        recipe=recipe.to_dict(),
        config=config.to_dict(),
        data=run.data.describe(),
        metrics=rows,
        epoch=epoch,
        seed=config.seed,
        precision=run.precision,
        world_size=run.dist.world,
        versions=versions(run.device),
    )
    _write_metrics(run_dir, rows, _run_summary(run))
    note = (
        f" (training loss includes label smoothing {recipe.label_smoothing:g})"
        if recipe.label_smoothing
        else ""
    )
    plot_curves(rows, run_dir / "curves.png", title=f"{run_dir.name}: recipe {recipe.name}{note}")


def _write_metrics(run_dir: Path, rows: list[dict[str, Any]], summary: Mapping[str, Any]) -> None:
    """metrics.csv (one row per epoch) and metrics.json (the run's settings, data, versions and rows)."""
    columns = [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "train_seconds",
        "images_per_s",
        "epoch_seconds",
        "elapsed_seconds",
    ]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _round(row[k])) for k in columns})
    atomic_write(run_dir / "metrics.csv", lambda f: f.write(text.getvalue().encode()))
    doc = {**summary, "epochs": rows}
    atomic_write(run_dir / "metrics.json", lambda f: f.write(json.dumps(doc, indent=2).encode()))


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def _run_summary(run: RunState) -> dict[str, Any]:
    assert run.run_dir is not None
    return {
        "run": run.run_dir.name,
        "recipe": run.recipe.to_dict(),
        "config": run.config.to_dict(),
        "data": run.data.describe(),
        "device": str(run.device),
        "precision": run.precision,
        "world_size": run.dist.world,
        "versions": versions(run.device),
    }


def _write_summary(run: RunState, result: TrainResult) -> None:
    """At the end of a run: metrics.json gains the result, per-class accuracy, the confusion matrix and the
    replicas' weight digests; confusion.png is drawn."""
    assert run.run_dir is not None
    run_dir, dist = run.run_dir, run.dist
    classes = list(run.data.classes)
    summary = _run_summary(run)
    summary.update(
        {
            "result": result.to_dict(),
            "per_class": per_class(result.confusion, classes) if result.confusion else None,
            "confusion": result.confusion,
            "distributed": {
                "world_size": dist.world,
                "backend": dist.backend,
                "weights_sha256": result.digests,
                "replicas_identical": len(set(result.digests)) == 1,
            },
        }
    )
    _write_metrics(run_dir, result.epochs, summary)
    if result.confusion:
        plot_confusion(
            result.confusion, classes, run_dir / "confusion.png", title=f"{run_dir.name}, validation"
        )
