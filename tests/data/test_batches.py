"""Batches: crop and flip on the device, reproducible sharded batches, the per-image pipeline."""

from __future__ import annotations

import torch
from torch.nn import functional

from lookalike.data import DeviceBatches, PerImageDataset, crop_flip, normalize


def test_crop_flip_equals_a_crop_of_the_reflect_padded_image() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=g)
    shifts = torch.randint(0, 9, (16, 2), generator=g)
    flips = torch.rand(16, generator=g) < 0.5
    out = crop_flip(images, shifts, flips, pad=4)
    padded = functional.pad(images, (4, 4, 4, 4), mode="reflect")
    for i in range(16):
        dy, dx = shifts[i].tolist()
        ref = padded[i, :, dy : dy + 8, dx : dx + 8]
        assert torch.equal(out[i], ref.flip(-1) if flips[i] else ref)


def _batches(images: torch.Tensor, labels: torch.Tensor, **kw: object) -> DeviceBatches:
    args: dict[str, object] = {
        "batch_size": 8,
        "mean": (0.5, 0.5, 0.5),
        "std": (0.25, 0.25, 0.25),
        "device": "cpu",
        "seed": 0,
        "pad": 0,
        "flip": "none",
    }
    args.update(kw)
    return DeviceBatches(images, labels, **args)  # type: ignore[arg-type]


def test_device_batches_are_reproducible_and_shard_like_a_distributed_sampler() -> None:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.arange(20)
    one = _batches(images, labels, pad=2, flip="random")
    assert len(one) == 2  # 20 // 8: the partial batch is dropped
    e0 = [(x.clone(), y.clone()) for x, y in one.epoch(0)]
    again = [(x, y) for x, y in _batches(images, labels, pad=2, flip="random").epoch(0)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(e0, again, strict=True))
    e1 = list(one.epoch(1))
    assert not torch.equal(e0[0][1], e1[0][1])  # a new order every epoch
    assert e0[0][0].shape == (8, 3, 8, 8) and e0[0][0].dtype == torch.float32
    # two processes of a world of 2 see the two halves of the same global batch, same augmentation
    halves = [list(_batches(images, labels, pad=2, flip="random", rank=r, world=2).epoch(0)) for r in (0, 1)]
    for step, (x, y) in enumerate(e0):
        assert torch.equal(torch.cat([halves[0][step][1], halves[1][step][1]]), y)
        assert torch.equal(torch.cat([halves[0][step][0], halves[1][step][0]]), x)


def test_alternating_flip_mirrors_each_image_every_other_epoch() -> None:
    images = torch.randint(
        0, 256, (16, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    labels = torch.arange(16)
    batches = _batches(images, labels, batch_size=16, flip="alternate")
    plain = normalize(images, (0.5,) * 3, (0.25,) * 3)

    def flipped(epoch: int) -> dict[int, bool]:
        ((x, y),) = list(batches.epoch(epoch))
        return {int(i): bool(torch.equal(x[k], plain[i].flip(-1))) for k, i in enumerate(y)}

    f0, f1, f2 = flipped(0), flipped(1), flipped(2)
    assert 0 < sum(f0.values()) < 16
    assert all(f1[i] != f0[i] for i in range(16)) and f2 == f0


def test_per_image_pipeline_equals_batched_normalisation() -> None:
    images = torch.randint(
        0, 256, (3, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(3)
    )
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    ds = PerImageDataset(images, torch.tensor([0, 1, 2]), mean, std)
    x, y = ds[1]
    assert y == 1
    torch.testing.assert_close(x, normalize(images[1:2], mean, std)[0])
