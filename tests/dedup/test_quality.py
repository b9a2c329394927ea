"""What a file says about its quality (lookalike.dedup.quality): JPEG quality from the tables, lossless
formats and JPEG-decoded PNGs, EXIF capture time, sharpness, and one-line errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from keeper_support import brighter, chart, page, photo, save, scanned
from lookalike.dedup.quality import (
    UNKNOWN_QUALITY,
    estimate_jpeg_quality,
    made_from_jpeg,
    read_quality,
    sharpness,
)
from lookalike.errors import ImageError


@pytest.mark.parametrize("quality", [1, 10, 30, 50, 75, 90, 95, 100])
def test_jpeg_quality_comes_back_from_the_tables_pillow_writes(tmp_path: Path, quality: int) -> None:
    path = save(photo(), tmp_path / "a.jpg", quality=quality)
    with Image.open(path) as img:
        assert estimate_jpeg_quality(img.quantization) == quality
    assert read_quality(path).quality == quality


def test_jpeg_quality_of_grey_and_progressive_files(tmp_path: Path) -> None:
    grey = save(photo().convert("L"), tmp_path / "grey.jpg", quality=42)
    progressive = save(photo(), tmp_path / "p.jpg", quality=67, progressive=True, subsampling=0)
    assert read_quality(grey).quality == 42
    assert read_quality(progressive).quality == 67


def test_other_tables_get_the_nearest_quality_and_no_tables_none() -> None:
    with Image.open(io.BytesIO(_jpeg_bytes(80))) as img:
        tables = {
            k: [v + (1 if i % 7 == 0 else 0) for i, v in enumerate(t)] for k, t in img.quantization.items()
        }
    assert estimate_jpeg_quality(tables) in (79, 80, 81)
    assert estimate_jpeg_quality({}) is None
    assert estimate_jpeg_quality({0: [1, 2, 3]}) is None


def _jpeg_bytes(quality: int) -> bytes:
    out = io.BytesIO()
    photo().save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_lossless_webp_is_lossless_and_lossy_webp_is_not(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0132] = "2020:01:02 03:04:05"
    lossless = save(photo(), tmp_path / "a.webp", lossless=True)
    extended = save(photo(), tmp_path / "b.webp", lossless=True, exif=exif)  # VP8X, then VP8L
    lossy = save(photo(), tmp_path / "c.webp", quality=80)
    assert read_quality(lossless).lossless and read_quality(extended).lossless
    q = read_quality(lossy)
    assert (q.format, q.lossless, q.quality, q.rated_quality) == ("WEBP", False, None, UNKNOWN_QUALITY)


def test_formats_that_keep_every_pixel_are_lossless(tmp_path: Path) -> None:
    img = chart()
    for name in ("a.png", "a.bmp", "a.gif", "a.ppm", "a.tif"):
        assert read_quality(save(img, tmp_path / name)).lossless, name
    assert not read_quality(save(img, tmp_path / "jpeg.tif", compression="jpeg")).lossless
    assert not read_quality(save(img, tmp_path / "a.jpg")).lossless


def test_exif_capture_time_is_read_as_utc(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0132] = "2021:01:01 00:00:00"  # DateTime: when the file was last written
    exif.get_ifd(0x8769)[0x9003] = "2019:05:01 10:12:33"  # DateTimeOriginal: when the shutter closed
    both = save(photo(), tmp_path / "both.jpg", exif=exif)
    only_datetime = Image.Exif()
    only_datetime[0x0132] = "2021:01:01 00:00:00"
    fallback = save(photo(), tmp_path / "fallback.jpg", exif=only_datetime)
    broken = Image.Exif()
    broken.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    unreadable = save(photo(), tmp_path / "broken.jpg", exif=broken)
    assert read_quality(both).capture_time == 1556705553.0  # 2019-05-01 10:12:33 UTC
    assert read_quality(fallback).capture_time == 1609459200.0
    assert read_quality(unreadable).capture_time is None
    assert read_quality(save(photo(), tmp_path / "none.jpg")).capture_time is None


def test_a_lossless_file_decoded_from_a_jpeg_counts_as_lossy(tmp_path: Path) -> None:
    jpeg = save(photo(), tmp_path / "a.jpg", quality=90)
    with Image.open(jpeg) as img:
        decoded = img.convert("RGB")
    as_png = read_quality(save(decoded, tmp_path / "a.png"))
    edited = read_quality(save(brighter(decoded).transpose(Image.Transpose.ROTATE_90), tmp_path / "b.png"))
    shifted = read_quality(save(decoded.crop((3, 5, 510, 509)), tmp_path / "c.png"))
    for q in (as_png, edited, shifted):
        assert q.lossless and q.from_jpeg and not q.clean_lossless
        assert q.rated_quality == UNKNOWN_QUALITY
    for drawn in (page(), chart(), photo()):  # never a JPEG: no grid
        q = read_quality(save(drawn, tmp_path / "drawn.png"))
        assert q.clean_lossless and q.rated_quality is None


def test_sharpness_falls_for_a_scan_and_not_for_brightness_or_contrast() -> None:
    for original in (page(), photo()):
        base = sharpness(original)
        assert base is not None
        scan = sharpness(Image.open(io.BytesIO(_saved(scanned(original), "JPEG", quality=85))))
        assert scan is not None and scan < 0.85 * base
        for edit in (
            brighter(original),
            brighter(original, 0.88),
            ImageEnhance.Contrast(original).enhance(1.15),
        ):
            edited = sharpness(edit)
            assert edited is not None and 0.95 * base < edited < 1.05 * base
    assert sharpness(Image.new("RGB", (200, 100), "white")) is None  # no edges: nothing to say


def _saved(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def test_read_quality_fails_with_one_line_only_when_the_header_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"missing\.png: no such file"):
        read_quality(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageError, match=r"notes\.png: cannot read it as an image"):
        read_quality(tmp_path / "notes.png")
    whole = _saved(photo(), "JPEG", quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) // 3])  # the header is fine, the pixels end early
    q = read_quality(cut)
    assert (q.format, q.quality, q.sharpness) == ("JPEG", 90, None)


def test_a_png_brightened_or_framed_from_a_jpeg_is_made_from_it_and_not_the_other_way(tmp_path: Path) -> None:
    original = save(photo(), tmp_path / "original.jpg", quality=90)
    decoded = Image.open(original).convert("RGB")
    bright = save(brighter(decoded), tmp_path / "bright.png")
    assert made_from_jpeg(bright, original)
    framed = Image.new("RGB", (decoded.width + 100, decoded.height + 100), "black")
    framed.paste(decoded, (50, 50))
    framed_path = save(framed, tmp_path / "framed.png")
    box = (50 / framed.width, 50 / framed.height, 1 - 50 / framed.width, 1 - 50 / framed.height)
    assert made_from_jpeg(framed_path, original, box)
    # a JPEG made from a lossless picture carries its compression noise: the PNG is not made from it
    png = save(photo(), tmp_path / "photo.png")
    copy = save(photo(), tmp_path / "copy.jpg", quality=95)
    assert not made_from_jpeg(png, copy)
    # resampled: no pixel-for-pixel function
    half = save(brighter(decoded).resize((decoded.width // 2, decoded.height // 2)), tmp_path / "half.png")
    assert not made_from_jpeg(half, original)
