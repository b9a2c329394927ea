"""The state of one training process (:class:`RunState`: what the epoch loop and the run folder's writers
share), where its batches come from (:class:`Feed`) and what a run produced (:class:`TrainResult`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.data import DeviceBatches
from lookalike.models import ModelInfo
from lookalike.train.config import PreparedData, TrainConfig
from lookalike.train.distributed import _Dist
from lookalike.train.recipes import Recipe
from lookalike.train.reporting import Reporter

if TYPE_CHECKING:
    import torch
    from torch import nn

TRAIN_STATE_FORMAT = "lookalike-train-state"
TRAIN_STATE_VERSION = 1
CHECKPOINT_NAME = "model.pt"  # weights + metadata: loads as `weights`
STATE_NAME = "last.pt"  # optimizer and schedule state too: what `resume` reads


@dataclass
class Feed:
    """A run's training batches: uint8 ``batches`` resident on the device, or a ``loader`` (DataLoader with
    a distributed ``sampler``); ``steps`` optimizer steps of ``batch`` images (all processes) per epoch."""

    steps: int
    batch: int
    batches: DeviceBatches | None = None
    loader: Any = None
    sampler: Any = None

    def epoch(self, epoch: int) -> Iterator[Any]:
        """The batches of ``epoch`` (0-based)."""
        return self.batches.epoch(epoch) if self.batches is not None else iter(self.loader)


@dataclass
class RunState:
    """Everything one training process works with once set up; ``rows`` grows by one per epoch."""

    config: TrainConfig
    recipe: Recipe
    dist: _Dist
    reporter: Reporter
    data: PreparedData
    run_dir: Path | None
    precision: str
    amp: Any  # the autocast dtype, or None for float32
    model: nn.Module  # unwrapped, on the device
    info: ModelInfo
    step_model: nn.Module  # what the steps call: the model, wrapped in DDP and/or compiled
    optimizer: torch.optim.Optimizer
    scheduler: Any
    criterion: nn.Module
    feed: Feed
    val_images: torch.Tensor | None  # on the device
    val_labels: torch.Tensor | None
    rows: list[dict[str, Any]]
    start_epoch: int
    compile_seconds: float
    #: Loss scaling for float16 (a pass-through otherwise): float16's range loses small gradients.
    scaler: Any = None

    @property
    def device(self) -> torch.device:
        return self.dist.device


@dataclass
class TrainResult:
    """What a run produced. ``model`` is the trained network (unwrapped, on the training device)."""

    run_dir: Path | None
    checkpoint: Path | None
    info: ModelInfo
    epochs: list[dict[str, Any]]
    val_acc: float | None
    val_loss: float | None
    confusion: list[list[int]] | None
    data_seconds: float
    compile_seconds: float
    train_seconds: float
    images_per_s: float
    digests: list[str]
    device: str
    precision: str
    config: TrainConfig
    model: nn.Module = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "epochs_done": len(self.epochs),
            "val_acc": self.val_acc,
            "val_loss": self.val_loss,
            "data_seconds": round(self.data_seconds, 3),
            "compile_seconds": round(self.compile_seconds, 3),
            "train_seconds": round(self.train_seconds, 3),
            "images_per_s": round(self.images_per_s, 1),
            "data": self.config.data,
            "device": self.device,
            "precision": self.precision,
            "classes": list(self.info.classes or ()),
            "weights_sha256": self.digests,
        }
