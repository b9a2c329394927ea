"""What an existing index lends: the weights to update it with, and its vectors to dedup.

The index here is made by the torch-free :class:`PixelEmbedder` (a file's vector is its thumbnail), which
the store treats as any other model: what it lends and when it refuses do not depend on the network."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.collection import Index, StorageError, index_folder
from lookalike.collection.location import COPY_NAME, default_location
from lookalike.collection.reuse import StoredVectors, UpdateSettings, stored_vectors, update_settings
from lookalike.scanning import list_images
from pixel_embedder import PixelEmbedder


def photos(folder: Path, n: int = 4) -> Path:
    """``n`` distinct little images in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    """A folder of images indexed by the pixel embedder."""
    folder = photos(tmp_path / "photos")
    index_folder(folder, PixelEmbedder())
    return folder


class OtherPixels(PixelEmbedder):
    """The same vectors' shape from another "model": an index of PixelEmbedder must not lend to it."""

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "fingerprint": "other-pixels"}


# ----------------------------------------------------------------------------------------------------------
# update_settings


def test_without_an_index_the_default_weights_and_what_was_given(tmp_path: Path) -> None:
    got = update_settings(tmp_path / "nowhere" / ".lookalike", model="resnet50", size=64)
    assert got == UpdateSettings("DEFAULT", "resnet50", 64, None)


def test_an_index_is_updated_with_what_made_it(indexed: Path) -> None:
    got = update_settings(default_location(indexed))
    assert got == UpdateSettings("pixels", "pixels", 12, None)


def test_given_model_and_size_win_over_the_indexs(indexed: Path) -> None:
    got = update_settings(default_location(indexed), model="resnet34", size=48)
    assert (got.weights, got.model, got.size) == ("pixels", "resnet34", 48)


def test_rebuild_starts_from_the_default_weights(indexed: Path) -> None:
    got = update_settings(default_location(indexed), size=32, rebuild=True)
    assert got == UpdateSettings("DEFAULT", None, 32, None)


def test_a_damaged_catalogue_is_restored_from_its_good_copy_first(indexed: Path) -> None:
    location = default_location(indexed)
    assert (location / COPY_NAME).is_file()
    (location / "index.db").write_bytes(b"not a database" * 100)
    got = update_settings(location)
    assert (got.weights, got.model, got.size) == ("pixels", "pixels", 12)
    assert got.restored  # the line saying what was put back
    with Index.open(location) as idx:
        assert idx.count == 4


def test_a_damaged_catalogue_without_a_copy_is_an_error(indexed: Path) -> None:
    location = default_location(indexed)
    (location / COPY_NAME).unlink()
    (location / "index.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError):
        update_settings(location)


# ----------------------------------------------------------------------------------------------------------
# stored_vectors


def test_an_up_to_date_index_lends_its_vectors_in_listing_order(indexed: Path) -> None:
    got = stored_vectors(indexed, PixelEmbedder())
    assert isinstance(got, StoredVectors)
    assert got.paths == list_images(indexed) and got.location == default_location(indexed).absolute()
    want = np.stack([next(PixelEmbedder().iter_files([p])).vectors[0] for p in got.paths])
    assert got.vectors.shape == (4, PixelEmbedder.dim)
    np.testing.assert_allclose(got.vectors, want, rtol=1e-5, atol=1e-6)


def test_a_folder_inside_the_indexed_one_borrows_too(indexed: Path) -> None:
    sub = photos(indexed / "sub", 2)
    index_folder(indexed, PixelEmbedder())
    got = stored_vectors(sub, PixelEmbedder())
    assert got is not None and len(got.paths) == 2 and got.location == default_location(indexed).absolute()


def test_no_index_lends_nothing(tmp_path: Path) -> None:
    assert stored_vectors(photos(tmp_path / "bare"), PixelEmbedder()) is None


def test_another_model_gets_nothing(indexed: Path) -> None:
    assert stored_vectors(indexed, OtherPixels()) is None


@pytest.mark.parametrize("change", ["new", "changed", "unreadable index"])
def test_an_index_behind_the_folder_lends_nothing(indexed: Path, change: str) -> None:
    if change == "new":
        photos(indexed / "later", 1)
    elif change == "changed":
        path = indexed / "0.png"
        Image.new("RGB", (20, 20), (1, 2, 3)).save(path)
        os.utime(path, ns=(1, 1))
    else:
        location = default_location(indexed)
        (location / COPY_NAME).unlink()
        (location / "index.db").write_bytes(b"not a database" * 100)
    assert stored_vectors(indexed, PixelEmbedder()) is None
