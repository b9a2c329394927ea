"""Datasets: folder decoding and its cache, bad files, zips, CIFAR-10 offline, splits, statistics, batches."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional

import lookalike.data as data_mod
from lookalike.data import (
    DeviceBatches,
    PerImageDataset,
    channel_stats,
    crop_flip,
    decode_files,
    load_data,
    normalize,
    split_indices,
    subsample,
)
from lookalike.errors import DataError
from shared_data import CIFAR as SHARED_TRAIN
from shared_data import needs_cifar


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("LOOKALIKE_CACHE", str(cache))
    return cache


def make_tree(
    root: Path,
    classes: tuple[str, ...] = ("cat", "dog", "frog"),
    per_class: int = 4,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
) -> Path:
    """An ImageFolder tree of random-colour PNGs, one folder per class."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            pixels[..., c % 3] = (40 * i) % 256  # something per class and per image
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def test_folder_is_decoded_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree(tmp_path / "tree")
    first = load_data(root)
    assert not first.cached
    assert first.images.shape == (12, 3, 32, 32) and first.images.dtype == torch.uint8
    assert first.classes == ("cat", "dog", "frog")
    assert first.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert first.files is not None and first.files[0] == "cat/000.png"
    expected = np.asarray(Image.open(root / "dog" / "002.png")).transpose(2, 0, 1)
    assert torch.equal(first.images[6], torch.from_numpy(expected.copy()))
    assert first.cache_path is not None and first.cache_path.is_file()

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(data_mod, "decode_files", no_decoding)
    second = load_data(root)
    assert second.cached
    assert torch.equal(second.images, first.images) and torch.equal(second.labels, first.labels)

    # a changed file changes the key: decoded again
    os.utime(root / "cat" / "001.png", ns=(1_000_000_000, 1_000_000_000))
    with pytest.raises(AssertionError, match="cache should have been used"):
        load_data(root)


def test_other_sizes_are_resized_and_centre_cropped(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    img = np.zeros((40, 80, 3), dtype=np.uint8)  # 80 wide, 40 high: left half red, right half blue
    img[:, :40, 0] = 255
    img[:, 40:, 2] = 255
    Image.fromarray(img).save(root / "a" / "wide.png")
    data = load_data(root, size=16)
    assert data.images.shape == (1, 3, 16, 16)
    # shorter side 40 → 16, width 80 → 32, centre crop keeps columns 8..23: red left, blue right
    assert data.images[0, 0, :, 0].min() > 200 and data.images[0, 2, :, 0].max() < 50
    assert data.images[0, 2, :, -1].min() > 200 and data.images[0, 0, :, -1].max() < 50


def test_bad_files_are_skipped_and_listed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (root / "frog" / "empty.png").write_bytes(b"")
    data = load_data(root)
    assert len(data) == 12
    assert [p for p, _ in data.skipped] == ["dog/broken.jpg", "frog/empty.png"]
    assert all(reason and "\n" not in reason for _, reason in data.skipped)
    assert data.files is not None and "dog/broken.jpg" not in data.files
    again = load_data(root)
    assert again.cached and again.skipped == data.skipped


def test_decoding_in_worker_processes_gives_the_same_pixels(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree", per_class=3)
    files = sorted(root.rglob("*.png"))
    inline, ok_inline, _ = decode_files(files, size=32, workers=0)
    pooled, ok_pooled, _ = decode_files(files, size=32, workers=2)
    assert ok_inline.all() and ok_pooled.all()
    assert torch.equal(inline, pooled)


def test_a_zip_of_a_folder_loads_like_the_folder(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "train")
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # as `python -m zipfile -c data.zip train` packs it
        for path in sorted(root.rglob("*")):
            zf.write(path, path.relative_to(tmp_path).as_posix())
    folder = load_data(root)
    zipped = load_data(archive)
    assert zipped.classes == folder.classes
    assert torch.equal(zipped.images, folder.images) and torch.equal(zipped.labels, folder.labels)
    assert not zipped.cached and load_data(archive).cached
    bad = tmp_path / "bad.zip"
    bad.write_bytes(archive.read_bytes()[:100])
    with pytest.raises(DataError):
        load_data(bad)


@pytest.mark.parametrize("case", ["missing", "file", "flat", "empty-class"])
def test_unusable_data_is_one_line(tmp_path: Path, case: str) -> None:
    if case == "missing":
        spec = tmp_path / "nope"
    elif case == "file":
        spec = tmp_path / "notes.txt"
        spec.write_text("hello")
    elif case == "flat":
        spec = tmp_path / "flat"
        spec.mkdir()
        Image.new("RGB", (32, 32)).save(spec / "a.png")
    else:
        spec = make_tree(tmp_path / "tree")
        (spec / "zebra").mkdir()
    with pytest.raises(DataError) as info:
        load_data(spec)
    message = str(info.value)
    assert "\n" not in message
    if case == "flat":
        assert "class subfolders" in message
    if case == "empty-class":
        assert "zebra" in message


def test_cifar10_offline_fails_fast_and_says_how_to_pass_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def offline(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    # the host answers, the download itself fails
    monkeypatch.setattr("lookalike.data.check_reachable", lambda url: None)
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as info:
        load_data("cifar10", root=tmp_path / "cifar")
    message = str(info.value)
    assert calls, "the download should have been attempted"
    assert "\n" not in message
    assert "Name or service not known" in message
    assert "--data ../shared/datasets/cifar10/train" in message


def test_cifar10_unreachable_host_fails_before_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(url: str) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("no download should start when the host cannot be reached")

    monkeypatch.setattr("lookalike.data.check_reachable", unreachable)
    monkeypatch.setattr(urllib.request, "urlopen", never)
    with pytest.raises(DataError, match="Name or service not known"):
        load_data("cifar10", root=tmp_path / "cifar")


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


def test_statistics_come_from_the_training_split_only(tmp_path: Path) -> None:
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
