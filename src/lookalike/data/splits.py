"""Splits and statistics: a fixed-seed stratified train/validation split (:func:`split_indices`), an even
draw from the classes (:func:`subsample`) and per-channel mean and std (:func:`channel_stats`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lookalike.data.imageset import Stats
from lookalike.errors import DataError

if TYPE_CHECKING:
    import torch


def split_indices(
    labels: torch.Tensor, val_fraction: float, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed-seed train/validation split, stratified: each class gives ``val_fraction`` of its images.

    ``round(N · val_fraction)`` images are held out in all, shared among the classes in proportion to
    their sizes (largest remainder first), so small sets still get a validation split. Returns sorted
    int64 index tensors ``(train, val)``; ``val`` is empty for ``val_fraction=0``. The same labels,
    fraction and seed always give the same split, whatever the training seed.

    >>> import torch
    >>> train, val = split_indices(torch.arange(10) % 2, 0.2, seed=0)
    >>> len(train), len(val)
    (8, 2)
    """
    import torch

    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"validation split {val_fraction} must be in [0, 1)", "pass e.g. `val_split=0.1`")
    classes = torch.unique(labels).tolist()
    members = [(labels == c).nonzero().flatten() for c in classes]
    quotas = [len(m) * val_fraction for m in members]
    counts = [int(q) for q in quotas]
    spare = round(len(labels) * val_fraction) - sum(counts)
    by_remainder = sorted(range(len(classes)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: max(0, spare)]:
        counts[i] += 1
    g = torch.Generator().manual_seed(seed)
    val_parts = [
        idx[torch.randperm(len(idx), generator=g)[:k]] for idx, k in zip(members, counts, strict=True)
    ]
    val = torch.sort(torch.cat(val_parts)).values if val_parts else torch.empty(0, dtype=torch.int64)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[val] = False
    train = mask.nonzero().flatten()
    if val_fraction > 0 and len(val) == 0:
        raise DataError(
            f"{len(labels)} images are too few for a {val_fraction:g} validation split",
            "add images or pass `val_split=0`",
        )
    if len(train) == 0:
        raise DataError(
            f"the {val_fraction:g} validation split leaves no training images", "lower `val_split`"
        )
    return train, val


def subsample(labels: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` indices drawn evenly from every class (round-robin over shuffled classes), sorted.

    >>> import torch
    >>> subsample(torch.tensor([0, 0, 0, 1, 1, 1]), 4, seed=0).tolist()  # two of each class
    [0, 2, 3, 4]
    """
    import torch

    if n < 1:
        raise DataError(f"limit={n} must be at least 1", "pass a positive `limit`")
    if n >= len(labels):
        return torch.arange(len(labels))
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    # rank of each image within its class in the shuffled order; take low ranks first, class by class
    shuffled = labels[order]
    rank = torch.zeros(len(labels), dtype=torch.int64)
    for c in torch.unique(labels).tolist():
        where = (shuffled == c).nonzero().flatten()
        rank[where] = torch.arange(len(where))
    picked = order[torch.argsort(rank * (int(labels.max()) + 1) + shuffled, stable=True)[:n]]
    return torch.sort(picked).values


def channel_stats(images: torch.Tensor, *, chunk: int = 4096) -> Stats:
    """Per-channel mean and (population) std of uint8 N×3×H×W images scaled to [0, 1], in float64.

    Compute them on the training split only, so validation images leave no trace in the model.
    """
    import torch

    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise DataError(f"channel statistics need N×3×H×W images, got {tuple(images.shape)}")
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64).div_(255.0)
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return (
        tuple(round(float(v), 6) for v in mean),  # type: ignore[return-value]
        tuple(round(float(v), 6) for v in std),
    )
