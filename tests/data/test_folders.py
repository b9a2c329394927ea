"""Folders and zips: decoded once into the cache, resized and centre-cropped, bad files skipped."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lookalike.data.folders as folders_mod
from lookalike.data import load_data
from lookalike.errors import DataError


def test_folder_is_decoded_once_then_read_from_the_cache(
    make_tree: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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

    monkeypatch.setattr(folders_mod, "decode_files", no_decoding)
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


def test_bad_files_are_skipped_and_listed(make_tree: Callable[..., Path], tmp_path: Path) -> None:
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


def test_a_zip_of_a_folder_loads_like_the_folder(make_tree: Callable[..., Path], tmp_path: Path) -> None:
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
