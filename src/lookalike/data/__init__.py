"""Datasets for training and evaluation: labelled images as one uint8 tensor, decoded once.

* :func:`load_data` — ``"cifar10"`` (torchvision's CIFAR10: a local torchvision folder or a download), a
  folder in ImageFolder layout (``DIR/<class>/…/image.jpg``, class index = sorted folder order), or a
  ``.zip`` of such a folder. The result is an :class:`ImageSet`: uint8 N×3×S×S images, labels, class names.
* A folder is decoded once, in worker processes, into a cache file (``$LOOKALIKE_CACHE`` or
  ``~/.cache/lookalike``) keyed by its files' paths, sizes and modification times and by the image size,
  so later runs start in seconds. Unreadable files are skipped and listed in :attr:`ImageSet.skipped`.
* :func:`split_indices` — a fixed-seed, class-stratified train/validation split; :func:`channel_stats` —
  mean and std per channel, to be computed on the training split only.
* :class:`DeviceBatches` — the whole training split resident on the device as uint8, shuffled and
  augmented per image (random translate by reflect-padded crop, horizontal flip) in one batched gather.

The modules: :mod:`~lookalike.data.imageset` (:class:`ImageSet`), :mod:`~lookalike.data.loading`
(:func:`load_data`, CIFAR-10), :mod:`~lookalike.data.folders` (folders and zips),
:mod:`~lookalike.data.decoding`, :mod:`~lookalike.data.cache` (the decoded cache, atomic writes),
:mod:`~lookalike.data.splits` (splits, sampling, statistics) and :mod:`~lookalike.data.batches`.

>>> from lookalike.data import load_data, split_indices, channel_stats
>>> data = load_data("cifar10/train")  # doctest: +SKIP
>>> train_idx, val_idx = split_indices(data.labels, 0.1, seed=0)  # doctest: +SKIP
>>> channel_stats(data.images[train_idx])  # doctest: +SKIP
((0.4913, 0.4821, 0.4465), (0.2452, 0.2428, 0.2606))
"""

from __future__ import annotations

from lookalike.data.batches import DeviceBatches, PerImageDataset, crop_flip, mix_seed, normalize
from lookalike.data.cache import atomic_save, atomic_write, cache_dir
from lookalike.data.decoding import decode_files
from lookalike.data.folders import class_folders, load_folder, load_zip
from lookalike.data.imageset import (
    CACHE_ENV,
    CACHE_FORMAT,
    CACHE_VERSION,
    CIFAR10_NAME,
    FlipMode,
    ImageSet,
    Progress,
    Stats,
)
from lookalike.data.loading import load_cifar10, load_data
from lookalike.data.splits import channel_stats, split_indices, subsample

__all__ = [
    "CACHE_ENV",
    "CACHE_FORMAT",
    "CACHE_VERSION",
    "CIFAR10_NAME",
    "DeviceBatches",
    "FlipMode",
    "ImageSet",
    "PerImageDataset",
    "Progress",
    "Stats",
    "atomic_save",
    "atomic_write",
    "cache_dir",
    "channel_stats",
    "class_folders",
    "crop_flip",
    "decode_files",
    "load_cifar10",
    "load_data",
    "load_folder",
    "load_zip",
    "mix_seed",
    "normalize",
    "split_indices",
    "subsample",
]
