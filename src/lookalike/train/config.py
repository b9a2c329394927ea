"""A run's settings that are not hyperparameters (:class:`TrainConfig`) and its data, loaded, limited,
split and measured (:func:`prepare_data` → :class:`PreparedData`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from lookalike.data import ImageSet, channel_stats, load_data, split_indices, subsample
from lookalike.train.reporting import Reporter


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a run that is not a hyperparameter: data, seeds, device, where results go."""

    data: str  # "cifar10", an ImageFolder tree, or a .zip of one
    val_split: float = 0.1  # fraction of each class held out for validation (0: train on everything)
    split_seed: int = 0  # seeds the split (and limit): the same held-out images whatever the seed
    size: int = 32  # images are resized (shorter side) and centre-cropped to size×size
    limit: int | None = (
        None  # use only this many images (drawn evenly from the classes), e.g. for a smoke test
    )
    seed: int = 0  # model initialisation, shuffling and augmentation
    weights: str | None = None  # initial weights (a file or torchvision name); default: random
    device: str | None = None  # default: cuda (cuda:LOCAL_RANK under torchrun) if available, else cpu
    precision: str | None = None  # override the recipe's (auto, float32, bfloat16, float16)
    compile: bool = False  # torch.compile the training model (compile time is reported separately)
    workers: int | None = None  # decoding / DataLoader worker processes
    data_root: str | None = None  # where torchvision keeps CIFAR-10 (data="cifar10")
    cache: str | None = None  # decoded-image cache folder (default $LOOKALIKE_CACHE or ~/.cache/lookalike)
    runs_dir: str = "runs"
    name: str | None = None  # run folder name; default: a timestamp
    save: bool = True  # write the run folder (the benchmark turns it off)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PreparedData:
    """The split, normalisation statistics (from the training split only) and how long loading took."""

    train: ImageSet
    val: ImageSet | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    seconds: float

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.train.source,
            "key": self.train.key,
            "classes": list(self.classes),
            "train_images": len(self.train),
            "val_images": len(self.val) if self.val else 0,
            "size": self.train.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "skipped": len(self.train.skipped),
            "cached": self.train.cached,
            "load_seconds": round(self.seconds, 3),
        }


def prepare_data(config: TrainConfig, *, reporter: Reporter | None = None) -> PreparedData:
    """Load ``config.data``, apply ``limit``, split it and compute mean/std on the training split."""
    rep = reporter or Reporter()
    start = time.perf_counter()
    data = load_data(
        config.data,
        size=config.size,
        train=True,
        root=config.data_root,
        cache=config.cache,
        workers=config.workers,
        progress=rep.counter("decoding images"),
    )
    if data.cached:
        rep.message(f"{len(data):,} images from the decoded cache {data.cache_path}")
    if data.skipped:
        rep.message(f"skipped {len(data.skipped)} unreadable file(s):")
        for path, why in data.skipped[:10]:
            rep.message(f"  {path}: {why}")
        if len(data.skipped) > 10:
            rep.message(f"  … and {len(data.skipped) - 10} more (listed in the run folder's skipped.txt)")
    if config.limit is not None and config.limit < len(data):
        rep.message(f"using {config.limit:,} of the {len(data):,} images (--limit)")
    train_set, val_set = _select(data, config.val_split, config.split_seed, config.limit)
    mean, std = channel_stats(train_set.images)
    return PreparedData(train_set, val_set, mean, std, time.perf_counter() - start)


def _select(
    data: ImageSet, val_split: float, split_seed: int, limit: int | None
) -> tuple[ImageSet, ImageSet | None]:
    """(train, val) after ``limit`` and the fixed-seed split; one place, so evaluation can redo it."""
    if limit is not None:
        data = data.subset(subsample(data.labels, limit, seed=split_seed))
    train_idx, val_idx = split_indices(data.labels, val_split, seed=split_seed)
    return data.subset(train_idx), (data.subset(val_idx) if len(val_idx) else None)
