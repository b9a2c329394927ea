"""Tests for lookalike.images: modes, formats, orientation, draft decoding, bad files."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from PIL import Image

from lookalike import images
from lookalike.errors import ImageError
from lookalike.formats import IMAGE_EXTENSIONS
from lookalike.images import image_size, load_image
from png_bomb import png_header

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _pixels(img: Image.Image) -> list[tuple[int, ...]]:
    return [img.getpixel((x, 0)) for x in range(img.width)]  # type: ignore[misc]


def _close(a: object, b: tuple[int, ...], tol: int) -> bool:
    assert isinstance(a, tuple)
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def _error(path: Path, **kw: object) -> str:
    with pytest.raises(ImageError) as info:
        load_image(path, **kw)  # type: ignore[arg-type]
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")  # names the file first
    return msg.replace(str(path), "<file>")  # so that words in the test's tmp path cannot satisfy a check


# ----------------------------------------------------------------------------------------------------------
# Orientation


@pytest.mark.parametrize(("orientation", "top", "bottom"), [(6, RED, BLUE), (8, BLUE, RED), (3, None, None)])
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, top: tuple[int, ...] | None, bottom: tuple[int, ...] | None
) -> None:
    img = Image.new("RGB", (40, 20), RED)
    img.paste(BLUE, (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    img.save(path, exif=exif, quality=95)

    out = load_image(path)
    if orientation == 3:  # 180°: red moves to the right
        assert out.size == (40, 20)
        assert _close(out.getpixel((35, 10)), RED, 30) and _close(out.getpixel((5, 10)), BLUE, 30)
    else:  # 90°: the picture stands up
        assert out.size == (20, 40)
        assert image_size(path) == (20, 40)
        assert top is not None and bottom is not None
        assert _close(out.getpixel((10, 5)), top, 30)
        assert _close(out.getpixel((10, 35)), bottom, 30)


def test_broken_exif_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "bad-exif.jpg"
    Image.new("RGB", (8, 6), RED).save(path, exif=b"Exif\x00\x00garbage-not-tiff")
    out = load_image(path)
    assert out.size == (8, 6)
    assert image_size(path) == (8, 6)


# ----------------------------------------------------------------------------------------------------------
# Pixel modes


def _palette_image(transparent: bool) -> Image.Image:
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *GREEN] + [0] * (254 * 3))
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    if transparent:
        img.info["transparency"] = 0
    return img


def _image(mode: str, values: list[object]) -> Image.Image:
    img = Image.new(mode, (len(values), 1))
    for x, v in enumerate(values):
        img.putpixel((x, 0), v)  # type: ignore[arg-type]
    return img


MODE_CASES: dict[str, tuple[Callable[[], Image.Image], str, list[tuple[int, ...]]]] = {
    "palette": (lambda: _palette_image(False), "png", [RED, GREEN]),
    "palette+transparency": (lambda: _palette_image(True), "png", [WHITE, GREEN]),
    "rgba": (
        lambda: _image("RGBA", [(255, 0, 0, 0), (255, 0, 0, 255), (0, 0, 0, 128)]),
        "png",
        [WHITE, RED, (127, 127, 127)],
    ),
    "la": (lambda: _image("LA", [(0, 0), (0, 255), (100, 255)]), "png", [WHITE, BLACK, (100,) * 3]),
    "l": (lambda: _image("L", [0, 100, 255]), "png", [BLACK, (100,) * 3, WHITE]),
    "l+transparency": (lambda: _image("L", [7, 100]), "png", [WHITE, (100,) * 3]),
    "i16": (
        lambda: Image.fromarray(np.array([[0, 32768, 65535, 25700]], dtype=np.uint16)),
        "png",
        [BLACK, (128,) * 3, WHITE, (100,) * 3],
    ),
    "i32": (
        lambda: _image("I", [0, 32768, 65535, 70000, -5]),
        "tif",
        [BLACK, (128,) * 3, WHITE, WHITE, BLACK],
    ),
    "cmyk": (
        lambda: _image("CMYK", [(0, 255, 255, 0), (0, 0, 0, 0), (0, 0, 0, 255)]),
        "tif",
        [RED, WHITE, BLACK],
    ),
    "1bit": (lambda: _image("1", [0, 255, 0]), "png", [BLACK, WHITE, BLACK]),
    "ycbcr": (lambda: _image("YCbCr", [(128, 128, 128), (76, 85, 255)]), "tif", [(128,) * 3, (254, 0, 0)]),
    "lab": (lambda: _image("LAB", [(128, 128, 128), (255, 128, 128)]), "tif", [(119,) * 3, (254, 255, 254)]),
}


@pytest.mark.parametrize("case", sorted(MODE_CASES))
def test_modes_become_rgb(tmp_path: Path, case: str) -> None:
    make, ext, expected = MODE_CASES[case]
    img = make()
    path = tmp_path / f"{case}.{ext}"
    kw: dict[str, Any] = {"transparency": 7} if case == "l+transparency" else {}
    img.save(path, **kw)
    with Image.open(path) as stored:
        assert stored.mode == img.mode  # the file really holds that mode
    out = load_image(path)
    assert out.mode == "RGB"
    assert _pixels(out) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),  # [0, 1] is scaled by 255
        ([0.0, 100.0, 255.0], [0, 100, 255]),  # [0, 255] is kept
        ([-1.0, 0.0, 1.0], [0, 128, 255]),  # any other range is stretched
        ([1000.0, 3000.0, float("nan")], [0, 255, 0]),  # NaN becomes the minimum
    ],
)
def test_float_images_are_scaled(tmp_path: Path, values: list[float], expected: list[int]) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([values], dtype=np.float32)).save(path)
    with Image.open(path) as stored:
        assert stored.mode == "F"
    assert [p[0] for p in _pixels(load_image(path))] == expected


@pytest.mark.parametrize(
    ("img", "expected"),
    [
        (Image.new("PA", (1, 1), (0, 0)), WHITE),
        (Image.new("RGBa", (1, 1), (0, 0, 0, 0)), WHITE),
        (Image.new("La", (1, 1), (0, 255)), BLACK),
        (Image.new("HSV", (1, 1), (0, 255, 255)), RED),
        (Image.new("I;16B", (1, 1), 65535), WHITE),
    ],
    ids=["PA", "RGBa", "La", "HSV", "I;16B"],
)
def test_in_memory_modes_become_rgb(img: Image.Image, expected: tuple[int, ...]) -> None:
    out = images._to_rgb(img, Path("x.png"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == expected


# ----------------------------------------------------------------------------------------------------------
# Formats


@pytest.mark.parametrize(
    ("ext", "tol"), [("jpg", 6), ("png", 0), ("webp", 6), ("bmp", 0), ("tiff", 0), ("gif", 0), ("ppm", 0)]
)
def test_formats(tmp_path: Path, ext: str, tol: int) -> None:
    colour = (200, 30, 60)
    path = tmp_path / f"img.{ext}"
    Image.new("RGB", (16, 12), colour).save(path)
    out = load_image(path)
    assert (out.mode, out.size) == ("RGB", (16, 12))
    assert _close(out.getpixel((8, 6)), colour, tol)
    assert Path(path).suffix in IMAGE_EXTENSIONS


def test_gif_gives_first_frame_and_closes_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in (RED, GREEN, BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    with Image.open(path) as check:
        assert getattr(check, "n_frames", 1) == 3
    opened: list[IO[bytes]] = []  # holding them keeps garbage collection from closing them for us
    real_open = Path.open

    def recording_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        f = real_open(self, *args, **kwargs)
        opened.append(f)
        return f

    monkeypatch.setattr(Path, "open", recording_open)
    out = load_image(str(path))
    assert _pixels(out)[0] == RED
    assert opened and all(f.closed for f in opened)


def test_accepts_str_and_pathlike(tmp_path: Path) -> None:
    path = tmp_path / "a b ü.png"
    Image.new("RGB", (3, 2), GREEN).save(path)
    assert load_image(str(path)).size == load_image(path).size == (3, 2)


# ----------------------------------------------------------------------------------------------------------
# Draft decoding


def test_draft_shrinks_jpeg_but_not_below_request(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _noise(1024, 768).save(path)
    assert load_image(path).size == (1024, 768)
    out = load_image(path, draft=(256, 256))
    assert out.mode == "RGB"
    assert out.size[0] < 1024 and out.size[1] < 768
    assert min(out.size) >= 256


def test_draft_respects_orientation(tmp_path: Path) -> None:
    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    _noise(1024, 512).save(path, exif=exif)  # shown as 512×1024
    out = load_image(path, draft=(400, 200))
    assert out.size[0] >= 400 and out.size[1] >= 200
    small = load_image(path, draft=(100, 100))
    assert small.size == (128, 256)


def test_draft_ignored_for_png(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (1024, 768), RED).save(path)
    assert load_image(path, draft=(256, 256)).size == (1024, 768)


def test_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(ValueError, match="draft"):
        load_image(path, draft=(0, 10))
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(path, max_pixels=0)


@pytest.mark.parametrize("orientation", [1, 6])
def test_load_image_tells_the_stored_size_before_its_draft(tmp_path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 400), RED).save(path, exif=exif)
    out = load_image(path, draft=(100, 100))  # decoded at 1/4 scale
    assert max(out.size) == 200
    assert out.info["source_size"] == image_size(path) == ((800, 400) if orientation == 1 else (400, 800))


# ----------------------------------------------------------------------------------------------------------
# Bad files


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="no such file"):
        image_size(tmp_path / "missing.jpg")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    assert "is a folder" in _error(folder)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _error(path)


@pytest.mark.parametrize("ext", ["jpg", "png", "gif", "tiff"])
def test_truncated(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"cut.{ext}"
    _noise(64, 64).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    msg = _error(path)
    assert "image data is truncated" in msg and "download it again" in msg
    assert image_size(path) == (64, 64)  # the header survives: size needs no pixels


def test_corrupt_data(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    _noise(64, 64).save(path)
    data = bytearray(path.read_bytes())
    start = data.find(b"IDAT") + 20
    data[start : start + 40] = bytes(b ^ 0xFF for b in data[start : start + 40])
    path.write_bytes(bytes(data))
    msg = _error(path)
    assert "image data is corrupt" in msg and "remove" in msg


def test_random_bytes_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8).tobytes())
    msg = _error(path)
    assert "not an image" in msg and "starts with bytes" in msg


def test_text_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("hello, this is not a picture\n" * 40)
    msg = _error(path)
    assert "not an image" in msg and "looks like text" in msg
    with pytest.raises(ImageError, match="not an image"):
        image_size(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(path)
    path.chmod(0)
    try:
        assert "permission denied" in _error(path)
    finally:
        path.chmod(0o644)


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.png"
    Image.new("RGB", (2, 2)).save(path)

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    msg = _error(path)
    assert "permission denied" in msg and "chmod" in msg


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "dangling.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    msg = _error(link)
    assert "broken symbolic link" in msg and "gone.jpg" in msg


def test_bomb_over_explicit_limit(tmp_path: Path) -> None:
    path = tmp_path / "twenty.png"
    Image.new("RGB", (20, 20)).save(path)
    msg = _error(path, max_pixels=100)
    assert "20×20 = 400 pixels" in msg and "limit of 100" in msg and "max_pixels" in msg
    assert load_image(path, max_pixels=400).size == (20, 20)


def test_bomb_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "twenty.png"
    Image.new("RGB", (20, 20)).save(path)
    monkeypatch.setenv("LOOKALIKE_MAX_PIXELS", "399")
    msg = _error(path)
    assert "limit of 399" in msg and "LOOKALIKE_MAX_PIXELS" in msg
    assert load_image(path, max_pixels=1000).size == (20, 20)  # the argument wins over the variable
    monkeypatch.setenv("LOOKALIKE_MAX_PIXELS", "lots")
    with pytest.raises(ImageError, match="LOOKALIKE_MAX_PIXELS='lots'"):
        load_image(path)


def test_bomb_default_follows_pillow_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "twenty.png"
    Image.new("RGB", (20, 20)).save(path)
    monkeypatch.delenv("LOOKALIKE_MAX_PIXELS", raising=False)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # Pillow itself would raise (400 > 2 × 150)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        msg = _error(path)
    assert "20×20 = 400 pixels" in msg and "limit of 150" in msg


def test_crafted_huge_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(100_000, 100_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw DecompressionBombWarning either
        msg = _error(path)
        # between Pillow's warning and error thresholds
        side = int((1.5 * (Image.MAX_IMAGE_PIXELS or 10**8)) ** 0.5)
        path.write_bytes(png_header(side, side))
        assert "over the limit" in _error(path)
    assert "100000×100000 = 10,000,000,000 pixels" in msg and "LOOKALIKE_MAX_PIXELS" in msg
    assert image_size(tmp_path / "bomb.png") == (side, side)


@pytest.mark.parametrize("ext", ["png", "tiff"])
def test_raised_limit_beyond_pillow_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str
) -> None:
    path = tmp_path / f"forty.{ext}"
    Image.new("RGB", (40, 40), BLUE).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 pixels: Pillow alone would refuse
    monkeypatch.setenv("LOOKALIKE_MAX_PIXELS", "10000")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = load_image(path)
    assert out.getpixel((0, 0)) == BLUE
    assert Image.MAX_IMAGE_PIXELS == 100  # Pillow's setting is restored


def test_the_folder_scan_is_still_given_under_its_old_path() -> None:
    from lookalike import scanning

    assert set(scanning.__all__) <= set(images.__all__)
    for name in scanning.__all__:
        assert getattr(images, name) is getattr(scanning, name), name
