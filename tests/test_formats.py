"""Tests for lookalike.formats and the optional readers through load_image: HEIC, AVIF and JPEG XL files the
tests write, their orientation, thumbnails and damage, the missing-reader messages, and ICC colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from format_files import p3_profile, p3_to_xyz_d65, photo, save
from lookalike import formats
from lookalike.errors import ImageError
from lookalike.formats import IMAGE_EXTENSIONS, format_of, missing_reader, pillow_formats, sniff
from lookalike.images import image_size, load_image

pytest.importorskip("pillow_heif", reason="needs the heif extra: pip install 'lookalike[heif]'")
pytest.importorskip("pillow_jxl", reason="needs the jxl extra: pip install 'lookalike[jxl]'")

OPTIONAL = (".heic", ".avif", ".jxl")


def _mean_abs(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


@pytest.fixture
def no_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without pillow-heif: HEIC's reader is missing (the others are there)."""
    real = formats._reader_ready

    def ready(name: str) -> bool:
        return name != "HEIC" and real(name)

    monkeypatch.setattr(formats, "_reader_ready", ready)
    monkeypatch.setattr(formats, "pillow_formats", lambda: tuple(f for f in pillow_formats() if f != "HEIF"))
    monkeypatch.setattr("lookalike.images.pillow_formats", formats.pillow_formats)


def test_formats_are_named_by_extension_in_any_case() -> None:
    assert format_of("IMG_0001.HEIC").name == "HEIC" and format_of("a.heif").extra == "heif"  # type: ignore[union-attr]
    assert format_of("x.jxl").name == "JPEG XL" and format_of("x.AVIF").name == "AVIF"  # type: ignore[union-attr]
    assert format_of("DSC_1.NEF") is formats.RAW and format_of("a.dng") is formats.RAW
    assert format_of("notes.txt") is None and format_of("no-extension") is None
    assert {".heic", ".avif", ".jxl", ".dng", ".cr3", ".jp2", ".tga"} <= IMAGE_EXTENSIONS


def test_only_safe_decoders_are_let_loose_on_files() -> None:
    allowed = pillow_formats()
    assert {"JPEG", "PNG", "HEIF", "AVIF", "JXL", "TIFF"} <= set(allowed)
    assert "EPS" not in allowed and "PDF" not in allowed  # EPS shells out to Ghostscript


def test_first_bytes_name_the_formats_of_optional_readers() -> None:
    assert sniff(b"\0\0\0\x18ftypheic\0\0\0\0").name == "HEIC"  # type: ignore[union-attr]
    assert sniff(b"\0\0\0\x1cftypmif1\0\0\0\0").name == "HEIC"  # type: ignore[union-attr]
    assert sniff(b"\0\0\0\x1cftypavif\0\0\0\0").name == "AVIF"  # type: ignore[union-attr]
    assert sniff(b"\xff\x0a\x00").name == "JPEG XL"  # type: ignore[union-attr]
    assert sniff(b"\0\0\0\x18ftypcrx \0\0\0\0") is formats.RAW
    assert sniff(b"\xff\xd8\xff\xe0") is None and sniff(b"") is None


@pytest.mark.parametrize("ext", OPTIONAL)
def test_a_photo_in_each_optional_format_reads_as_the_png_does(tmp_path: Path, ext: str) -> None:
    original = photo()
    copy = save(original, tmp_path / f"p{ext}", quality=90)
    assert missing_reader(format_of(copy)) is None  # type: ignore[arg-type]
    img = load_image(copy)
    assert img.mode == "RGB" and img.size == original.size and image_size(copy) == original.size
    assert _mean_abs(img, original) < 4.0  # a re-encode, not another picture


@pytest.mark.parametrize("ext", OPTIONAL)
def test_exif_orientation_is_applied_in_each_optional_format(tmp_path: Path, ext: str) -> None:
    original = photo(240, 160, seed=1)
    stored = original.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back clockwise
    copy = save(stored, tmp_path / f"turned{ext}", orientation=6, quality=90)
    img = load_image(copy)
    assert img.size == (240, 160) and image_size(copy) == (240, 160)
    assert _mean_abs(img, original) < 4.0


def test_a_heic_draft_decodes_its_embedded_thumbnail_when_large_enough(tmp_path: Path) -> None:
    original = photo(480, 320, seed=2)
    path = save(original, tmp_path / "thumbs.heic", quality=90, thumbnails=[240])
    small = load_image(path, draft=(200, 100))
    assert small.size == (240, 160) and small.info["source_size"] == (480, 320)
    assert _mean_abs(small, original.resize((240, 160), Image.Resampling.LANCZOS)) < 6.0
    assert load_image(path, draft=(300, 200)).size == (480, 320)  # too small a thumbnail: the image


@pytest.mark.parametrize("ext", [".heic", ".avif"])
def test_a_truncated_heic_or_avif_is_one_clear_line(tmp_path: Path, ext: str) -> None:
    whole = save(photo(seed=3), tmp_path / f"whole{ext}", quality=90).read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageError) as info:
        load_image(cut)
    message = str(info.value)
    assert message.startswith(f"{cut}: ") and "\n" not in message
    assert "truncated" in message or "corrupt" in message


def test_without_its_reader_a_heic_file_names_the_extra_to_install(tmp_path: Path, no_reader: None) -> None:
    path = save(photo(seed=4), tmp_path / "IMG_0001.heic", quality=90)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(info.value) == f"{path}: HEIC files need pillow-heif: pip install 'lookalike[heif]'"
    renamed = path.rename(tmp_path / "IMG_0001.jpg")  # what the bytes are, not what the name says
    with pytest.raises(ImageError, match=r"HEIC files need pillow-heif: pip install 'lookalike\[heif\]'"):
        load_image(renamed)


def test_a_display_p3_photo_is_converted_to_srgb(tmp_path: Path) -> None:
    p3 = np.array([200.0, 60.0, 40.0])
    path = tmp_path / "p3.png"
    Image.new("RGB", (8, 8), tuple(int(v) for v in p3)).save(path, icc_profile=p3_profile())
    xyz = p3_to_xyz_d65() @ ((p3 / 255.0) ** 2.2)
    lin = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]) @ xyz
    lin = np.clip(lin, 0.0, 1.0)
    expected = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055) * 255
    got = np.asarray(load_image(path).getpixel((0, 0)), dtype=np.float64)
    assert np.abs(got - expected).max() <= 2.0
    assert np.abs(got - p3).max() > 15.0  # as stored it would be another colour


def test_an_srgb_or_damaged_profile_leaves_the_pixels_as_stored(tmp_path: Path) -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, icc in (("srgb.png", srgb), ("damaged.png", b"not a profile at all" * 8)):
        path = tmp_path / name
        Image.new("RGB", (4, 4), (200, 60, 40)).save(path, icc_profile=icc)
        assert load_image(path).getpixel((0, 0)) == (200, 60, 40)


def test_animations_give_their_first_frame_and_say_how_many(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    for ext in (".gif", ".webp", ".png"):
        path = tmp_path / f"anim{ext}"
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, lossless=True)
        img = load_image(path)
        assert img.info["frames"] == 3, ext
        r, g, b = img.getpixel((8, 8))  # type: ignore[misc]
        assert r > 200 and g < 50 and b < 50, ext
    still = tmp_path / "still.png"
    frames[0].save(still)
    assert load_image(still).info["frames"] == 1


def test_a_phones_mpo_jpeg_is_one_picture_not_an_animation(tmp_path: Path) -> None:
    from lookalike.images import frame_count

    primary, gain_map = Image.new("RGB", (32, 32), (200, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 200))
    path = tmp_path / "IMG_0001.jpg"
    primary.save(path, "MPO", save_all=True, append_images=[gain_map])
    img = load_image(path)
    assert img.info["frames"] == 1 and frame_count(path) == 1
    r, _, b = img.getpixel((16, 16))  # type: ignore[misc]
    assert r > 150 and b < 60  # the primary picture
