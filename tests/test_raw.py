"""Tests for lookalike.raw: a DNG the tests build (Bayer mosaic + preview) read through the preview or the
demosaic, turned as the camera says, and damaged or unreadable RAW files as one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from format_files import dng, photo
from lookalike import formats
from lookalike.errors import ImageError
from lookalike.images import image_size, load_image

pytest.importorskip("rawpy", reason="needs the raw extra: pip install 'lookalike[raw]'")
pytest.importorskip("tifffile", reason="the tests build their DNG files with tifffile")


def _mean_abs(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def _corr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("L"), dtype=np.float64).ravel()
    y = np.asarray(b.convert("L"), dtype=np.float64).ravel()
    return float(np.corrcoef(x, y)[0, 1])


def test_a_dng_is_demosaiced_into_the_picture_it_holds(tmp_path: Path) -> None:
    original = photo(240, 160, seed=5)
    path = dng(original, tmp_path / "shot.dng")
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (240, 160) and image_size(path) == (240, 160)
    assert img.info["raw_source"] == "demosaic" and img.info["source_size"] == (240, 160)
    assert _corr(img, original) > 0.95  # the same picture (LibRaw brightens and tones it its own way)


def test_a_draft_uses_the_preview_when_it_is_large_enough_else_the_mosaic(tmp_path: Path) -> None:
    original = photo(240, 160, seed=6)
    path = dng(original, tmp_path / "shot.dng", preview=original.resize((120, 80)))
    small = load_image(path, draft=(100, 60))
    assert small.info["raw_source"] == "preview" and small.size == (120, 80)
    assert small.info["source_size"] == (240, 160)
    assert _mean_abs(small, original.resize((120, 80))) < 1.0  # the preview itself
    assert load_image(path, draft=(200, 100)).info["raw_source"] == "demosaic"  # preview too small
    # half size (120×80) would be narrower than asked, though its short side is longer than the draft's
    assert load_image(path, draft=(130, 50)).size == (240, 160)


def test_a_preview_of_another_shape_is_not_taken_for_the_picture(tmp_path: Path) -> None:
    original = photo(240, 160, seed=7)
    path = dng(original, tmp_path / "wide.dng", preview=original.resize((240, 100)))  # 12:5, not 3:2
    assert load_image(path, draft=(50, 50)).info["raw_source"] == "demosaic"


@pytest.mark.parametrize("flip", [3, 6, 8])
def test_the_camera_orientation_turns_the_mosaic_and_the_preview_alike(tmp_path: Path, flip: int) -> None:
    upright = photo(240, 160, seed=8)
    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    stored = upright.transpose(undo[flip])  # as the sensor saw it
    preview = stored.resize((stored.width // 2, stored.height // 2))
    path = dng(stored, tmp_path / f"flip{flip}.dng", preview=preview, flip=flip)
    full = load_image(path)
    small = load_image(path, draft=(60, 60))
    assert full.size == upright.size and image_size(path) == upright.size
    assert small.info["raw_source"] == "preview" and small.size == (120, 80)
    assert _corr(full, upright) > 0.95
    assert _mean_abs(small, upright.resize((120, 80))) < 2.0


def test_a_damaged_preview_falls_back_to_the_mosaic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rawpy

    original = photo(240, 160, seed=9)
    path = dng(original, tmp_path / "shot.dng", preview=original.resize((120, 80)))
    real_imread = rawpy.imread

    class DamagedPreview:
        """A RAW file whose preview LibRaw cannot decode (its mosaic is fine)."""

        def __init__(self, source: str) -> None:
            self.raw = real_imread(source)

        def __enter__(self) -> DamagedPreview:
            return self

        def __exit__(self, *exc: object) -> None:
            self.raw.close()

        def __getattr__(self, name: str) -> object:
            return getattr(self.raw, name)

        def extract_thumb(self) -> object:
            raise rawpy.LibRawDataError("preview data is damaged")

    monkeypatch.setattr(rawpy, "imread", DamagedPreview)
    img = load_image(path, draft=(100, 60))
    assert img.info["raw_source"] == "demosaic" and _corr(img, original.resize(img.size)) > 0.95


def test_broken_raw_files_are_one_clear_line(tmp_path: Path) -> None:
    good = dng(photo(seed=10), tmp_path / "good.dng").read_bytes()
    cases = {
        "cut.dng": good[: len(good) // 3],
        "text.nef": b"this is not a camera file\n" * 20,
        "empty.cr2": b"",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageError) as info:
            load_image(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and "\n" not in message and "Traceback" not in message, name
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.cr2")


def test_without_rawpy_a_raw_file_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = dng(photo(seed=11), tmp_path / "shot.dng")
    monkeypatch.setattr(formats, "_reader_ready", lambda name: name != "RAW")
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(info.value) == f"{path}: RAW files need rawpy: pip install 'lookalike[raw]'"


def test_the_pixel_limit_refuses_a_large_sensor_before_decoding(tmp_path: Path) -> None:
    path = dng(photo(240, 160, seed=12), tmp_path / "shot.dng")
    with pytest.raises(ImageError, match="over the limit of 1,000"):
        load_image(path, max_pixels=1000)
