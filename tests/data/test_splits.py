"""Splits, sampling and statistics: fixed, stratified, disjoint; statistics from the training split only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from lookalike.data import channel_stats, decode_files, load_data, split_indices, subsample
from lookalike.errors import DataError
from shared_data import CIFAR as SHARED_TRAIN
from shared_data import needs_cifar


def test_split_is_fixed_stratified_and_disjoint() -> None:
    labels = torch.arange(100) % 4
    train, val = split_indices(labels, 0.2, seed=0)
    assert len(val) == 20 and len(train) == 80
    assert torch.bincount(labels[val]).tolist() == [5, 5, 5, 5]
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(100))
    again_train, again_val = split_indices(labels, 0.2, seed=0)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)
    assert not torch.equal(val, split_indices(labels, 0.2, seed=1)[1])
    assert len(split_indices(labels, 0.0, seed=0)[1]) == 0
    with pytest.raises(DataError):
        split_indices(labels, 1.0)


def test_subsample_draws_evenly_from_classes() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    picked = subsample(labels, 30, seed=0)
    assert torch.bincount(labels[picked]).tolist() == [10, 10, 10]
    assert torch.equal(picked, subsample(labels, 30, seed=0))
    assert len(subsample(labels, 1000)) == 100


def test_statistics_come_from_the_training_split_only(make_tree: Callable[..., Path], tmp_path: Path) -> None:
    from lookalike.train import TrainConfig, prepare_data

    root = make_tree(tmp_path / "tree", per_class=10)
    prepared = prepare_data(TrainConfig(data=str(root), val_split=0.3))
    assert prepared.val is not None and len(prepared.val) == 9 and len(prepared.train) == 21
    assert (prepared.mean, prepared.std) == channel_stats(prepared.train.images)
    everything = load_data(root)
    assert (prepared.mean, prepared.std) != channel_stats(everything.images)


def test_channel_stats_are_exact() -> None:
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    images[0, 0] = 255  # red: half the pixels at 1 → mean 0.5, std 0.5
    images[:, 1] = 51  # green: 0.2 everywhere → std 0
    mean, std = channel_stats(images, chunk=1)
    assert mean == pytest.approx((0.5, 0.2, 0.0))
    assert std == pytest.approx((0.5, 0.0, 0.0))


@needs_cifar
def test_real_cifar_statistics_are_close_to_the_published_ones() -> None:
    files = [p for c in sorted(SHARED_TRAIN.iterdir()) for p in sorted(c.iterdir())[:40]]
    images, ok, _ = decode_files(files, size=32, workers=0)
    assert ok.all()
    mean, std = channel_stats(images)
    # the whole split: mean (0.4913, 0.4821, 0.4465), std (0.2452, 0.2428, 0.2606); 400 images are close
    assert mean == pytest.approx((0.4913, 0.4821, 0.4465), abs=0.03)
    assert std == pytest.approx((0.2452, 0.2428, 0.2606), abs=0.02)


def test_bad_split_and_limit_name_the_parameter_to_change() -> None:
    labels = torch.arange(10) % 2
    with pytest.raises(DataError) as info:
        split_indices(labels, 1.0)
    assert info.value.message == "validation split 1.0 must be in [0, 1)"
    assert info.value.hint == "pass e.g. `val_split=0.1`"
    with pytest.raises(DataError) as info:
        split_indices(torch.arange(2), 0.1)
    assert info.value.hint == "add images or pass `val_split=0`"
    with pytest.raises(DataError) as info:
        split_indices(torch.arange(2), 0.9)
    assert info.value.hint == "lower `val_split`"
    with pytest.raises(DataError) as info:
        subsample(labels, 0)
    assert (info.value.message, info.value.hint) == ("limit=0 must be at least 1", "pass a positive `limit`")
