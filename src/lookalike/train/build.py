"""What a run is built from: the recipe's model (:func:`_build_model`), its optimizer, its batches
(:func:`_feed`), and the one-step warm-up that compiles it."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lookalike.data import DeviceBatches, PerImageDataset
from lookalike.errors import DataError
from lookalike.models import ModelInfo, create_model, model_info
from lookalike.train.config import PreparedData, TrainConfig
from lookalike.train.distributed import _Dist
from lookalike.train.recipes import Recipe
from lookalike.train.state import Feed

if TYPE_CHECKING:
    import torch
    from torch import nn


def _build_model(config: TrainConfig, recipe: Recipe, data: PreparedData) -> tuple[nn.Module, ModelInfo]:
    """The recipe's ResNet with a ``len(classes)``-way head, and the metadata its checkpoint will carry."""
    from torch import nn

    classes = len(data.classes)
    if config.weights is not None:
        model = create_model(recipe.arch, num_classes=classes, weights=config.weights)  # checked by train()
    else:
        model = create_model(recipe.arch, num_classes=classes, cifar_stem=recipe.cifar_stem)
        if recipe.zero_init_residual:
            for m in model.modules():
                last_bn = getattr(m, "bn3", None) or getattr(m, "bn2", None)
                if m.__class__.__name__ in ("BasicBlock", "Bottleneck") and isinstance(
                    last_bn, nn.BatchNorm2d
                ):
                    nn.init.zeros_(last_bn.weight)
    size = data.train.size
    info = replace(
        model_info(model),
        num_classes=classes,
        classes=data.classes,
        mean=data.mean,
        std=data.std,
        crop_size=size,
        resize_size=size,
        interpolation="bilinear",
        source="lookalike train",
        fingerprint="",
    )
    return model, info


def _optimizer(model: nn.Module, recipe: Recipe, batch: int) -> torch.optim.Optimizer:
    """Adam or SGD-Nesterov at the recipe's lr for ``batch`` images per step; weight decay on conv/linear
    weights (and on the rest if the recipe says so)."""
    import torch

    decay = [p for p in model.parameters() if p.ndim > 1 or recipe.decay_norm_and_bias]
    rest = [p for p in model.parameters() if not (p.ndim > 1 or recipe.decay_norm_and_bias)]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    lr = recipe.lr * batch / recipe.lr_batch if recipe.lr_batch else recipe.lr
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


def _feed(config: TrainConfig, recipe: Recipe, dist: _Dist, data: PreparedData) -> Feed:
    """The training split as batches: uint8 on the device (``device`` loader) or a DataLoader."""
    device = dist.device
    n_train = len(data.train)
    batch = min(recipe.batch_size, n_train)
    if recipe.loader == "device":
        batch -= batch % dist.world
        if batch < dist.world:
            raise DataError(f"{n_train} training images are too few for {dist.world} processes")
        batches = DeviceBatches(
            data.train.images,
            data.train.labels,
            batch_size=batch,
            mean=data.mean,
            std=data.std,
            device=device,
            seed=config.seed,
            pad=recipe.crop_pad,
            flip=recipe.flip,
            channels_last=recipe.channels_last,
            rank=dist.rank,
            world=dist.world,
        )
        return Feed(steps=len(batches), batch=batch, batches=batches)
    from torch.utils.data import DataLoader, DistributedSampler

    dataset: Any = PerImageDataset(data.train.images, data.train.labels, data.mean, data.std)
    sampler: Any = DistributedSampler(
        dataset, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=config.seed
    )
    workers = (
        config.workers
        if config.workers is not None
        else (0 if device.type == "cpu" else min(8, os.cpu_count() or 1))
    )
    loader = DataLoader(
        dataset,
        batch_size=max(1, batch // dist.world),
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    return Feed(steps=len(loader), batch=batch, loader=loader, sampler=sampler)


def _warm_up(
    step_model: nn.Module,
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    first: tuple[torch.Tensor, torch.Tensor],
    device: torch.device,
    amp: Any,
) -> float:
    """Compile by running one forward/backward pass; the weights and BN statistics are put back."""
    import torch

    start = time.perf_counter()
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x, y = first[0].to(device), first[1].to(device)
    ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with ctx:
        loss = criterion(step_model(x), y)
    loss.backward()
    optimizer.zero_grad(set_to_none=True)
    model.load_state_dict(saved)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start
