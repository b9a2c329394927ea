"""Tests for lookalike.images: modes, formats, orientation, draft decoding, bad files, folder listing."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from PIL import Image

from lookalike import images
from lookalike.errors import ImageError
from lookalike.images import IMAGE_EXTENSIONS, image_size, list_images, load_image
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


# ----------------------------------------------------------------------------------------------------------
# list_images


def _touch_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # list_images goes by name; content is not read
    return path


def test_list_images_nested_case_hidden_and_order(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for rel in [
        "b.jpg",
        "a.PNG",
        "sub/c.JpEg",
        "sub/deeper/d.webp",
        "z dir/é 1.tif",
        "日本/写真.gif",
        ".hidden.jpg",
        ".lookalike/thumb.jpg",
        "sub/.cache/e.png",
        "notes.txt",
        "noext",
    ]:
        _touch_image(root / rel)
    expected = [
        root / r
        for r in ["a.PNG", "b.jpg", "sub/c.JpEg", "sub/deeper/d.webp", "z dir/é 1.tif", "日本/写真.gif"]
    ]
    assert list_images(root) == expected
    assert list_images(str(root)) == expected
    assert list_images(root, recursive=False) == [root / "a.PNG", root / "b.jpg"]


def test_list_images_follows_symlinks_without_looping(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _touch_image(root / "a.jpg")
    _touch_image(root / "sub/b.jpg")
    outside = _touch_image(tmp_path / "elsewhere/c.png").parent
    (root / "sub/loop").symlink_to(root, target_is_directory=True)
    (root / "sub/self").symlink_to(root / "sub", target_is_directory=True)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    result: list[list[Path]] = []
    worker = threading.Thread(target=lambda: result.append(list_images(root)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert result, "list_images did not finish: it follows a symlink loop"
    found = result[0]
    assert found == [root / "a.jpg", root / "linked/c.png", root / "sub/b.jpg"]


def test_list_images_lists_broken_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _touch_image(root / "a.jpg")
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (root / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    assert list_images(root) == [root / "a.jpg", root / "gone.jpg"]
    with pytest.raises(ImageError, match="broken symbolic link"):
        load_image(root / "gone.jpg")


def test_list_images_single_file_and_missing_root(tmp_path: Path) -> None:
    one = _touch_image(tmp_path / "one.jpg")
    assert list_images(one) == [one]
    with pytest.raises(ImageError, match="no such file or folder") as info:
        list_images(tmp_path / "nope")
    assert "nope" in str(info.value)


def test_list_then_load_real_images(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    for i, ext in enumerate(["jpg", "png", "webp", "bmp", "tif", "gif"]):
        Image.new("RGB", (5 + i, 4), GREEN).save(root / f"{i}.{ext}")
    found = list_images(root)
    assert [p.name for p in found] == ["0.jpg", "1.png", "2.webp", "3.bmp", "4.tif", "5.gif"]
    assert [load_image(p).size for p in found] == [(5 + i, 4) for i in range(6)]
    assert [image_size(p) for p in found] == [(5 + i, 4) for i in range(6)]


def test_list_images_can_skip_unreadable_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    _touch_image(root / "a.jpg")
    _touch_image(root / "locked/b.jpg")
    _touch_image(root / "open/c.jpg")
    real_scandir = os.scandir

    def refuse(path: Any = ".") -> Any:
        if Path(path).name in ("locked", "root-locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(ImageError, match="locked: cannot list the folder"):
        list_images(root)  # the default is unchanged: one bad folder stops the listing
    skipped: list[tuple[Path, str]] = []
    found = list_images(root, on_error=lambda folder, error: skipped.append((folder, str(error))))
    assert found == [root / "a.jpg", root / "open/c.jpg"]
    assert [f for f, _ in skipped] == [root / "locked"]
    assert "cannot list the folder (Permission denied); fix its permissions" in skipped[0][1]
    top = tmp_path / "root-locked"
    top.mkdir()
    with pytest.raises(ImageError, match="cannot list the folder"):
        list_images(top, on_error=lambda folder, error: None)  # the root itself still raises


@pytest.mark.parametrize("orientation", [1, 6])
def test_load_image_tells_the_stored_size_before_its_draft(tmp_path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 400), RED).save(path, exif=exif)
    out = load_image(path, draft=(100, 100))  # decoded at 1/4 scale
    assert max(out.size) == 200
    assert out.info["source_size"] == image_size(path) == ((800, 400) if orientation == 1 else (400, 800))


def test_scan_images_counts_what_it_passes_over_by_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike import formats
    from lookalike.images import scan_images

    for name in ("a.jpg", "trip/b.PNG", "trip/c.heic", "trip/d.HEIC", "notes.txt", "trip/clip.mov", "README"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".hidden.txt").write_bytes(b"x")  # hidden: neither listed nor counted
    monkeypatch.setattr(formats, "_reader_ready", lambda name: name != "HEIC")
    scan = scan_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in scan.paths] == ["a.jpg", "trip/b.PNG"]
    assert scan.skipped.no_reader == {".heic": 2}
    assert scan.skipped.unknown == {".txt": 1, ".mov": 1, "": 1} and scan.skipped.total == 5
    assert scan.skipped.lines() == [
        "2 .heic files skipped: HEIC files need pillow-heif: pip install 'lookalike[heif]'",
        "3 files of unknown type skipped (.mov 1, .txt 1, (no extension) 1)",
    ]
    assert scan.skipped.to_dict() == {
        "total": 5,
        "no_reader": {".heic": {"count": 2, "fix": "pip install 'lookalike[heif]'"}},
        "unknown": {"": 1, ".mov": 1, ".txt": 1},
        "excluded": 0,
        "excluded_folders": 0,
    }
    assert list_images(tmp_path) == scan.paths
    monkeypatch.setattr(formats, "_reader_ready", lambda name: True)
    assert len(scan_images(tmp_path).paths) == 4  # with the reader the HEIC files are listed


def test_formats_pillow_reads_are_listed_and_read(tmp_path: Path) -> None:
    from lookalike.images import scan_images

    picture = _noise(24, 16, seed=3)
    for ext, options in ((".tga", {}), (".qoi", {}), (".jp2", {}), (".ico", {"sizes": [(24, 16)]})):
        picture.save(tmp_path / f"p{ext}", **options)
    scan = scan_images(tmp_path)
    assert (
        sorted(p.suffix for p in scan.paths) == [".ico", ".jp2", ".qoi", ".tga"] and scan.skipped.total == 0
    )
    for path in scan.paths:
        img = load_image(path)
        assert img.mode == "RGB" and img.size == (24, 16), path
    assert np.array_equal(np.asarray(load_image(tmp_path / "p.qoi")), np.asarray(picture))  # lossless


# ----------------------------------------------------------------------------------------------------------
# exclude patterns


def _relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_exclude_names_match_at_any_depth_and_paths_from_the_root(tmp_path: Path) -> None:
    from lookalike.images import scan_images

    root = tmp_path / "photos"
    for rel in [
        "a.jpg",
        "a.tmp",  # a name pattern, at the top …
        "trip/b.tmp",  # … and deeper
        "trip/deep/c.tmp",
        "IMG_1.PNG",  # case-sensitive: IMG_*.PNG takes this one …
        "img_2.png",  # … not this one
        "drafts/d.jpg",  # a folder name at the top …
        "trip/drafts/e.jpg",  # … and deeper
        "trip/drafts.jpg",  # a file named like the folder pattern's glob would not be (no glob match)
        "raw/f.jpg",  # raw/** from the root …
        "raw/deeper/g.jpg",
        "trip/raw/h.jpg",  # … not a raw folder lower down
        "2023/jan/thumbs/i.jpg",  # 2023/*/thumbs: one name between …
        "2023/jan/feb/thumbs/j.jpg",  # … not two
        "2024/jan/thumbs/k.jpg",
        "notes.txt",  # excluded, not counted as of unknown type
    ]:
        _touch_image(root / rel)
    scan = scan_images(
        root, exclude=["*.tmp", "IMG_*.PNG", "drafts", "raw/**", "2023/*/thumbs", "*.txt", "/top-only.jpg"]
    )
    assert _relative(scan.paths, root) == [
        "2023/jan/feb/thumbs/j.jpg",
        "2024/jan/thumbs/k.jpg",
        "a.jpg",
        "img_2.png",
        "trip/drafts.jpg",
        "trip/raw/h.jpg",
    ]
    # files: a.tmp, b.tmp, c.tmp, IMG_1.PNG, notes.txt; folders: drafts ×2, raw, 2023/jan/thumbs
    assert (scan.skipped.excluded, scan.skipped.excluded_folders) == (5, 4)
    assert scan.skipped.unknown == {} and scan.skipped.total == 5
    assert scan.skipped.lines() == ["5 files and 4 folders excluded by pattern"]
    assert scan.skipped.to_dict()["excluded"] == 5 and scan.skipped.to_dict()["excluded_folders"] == 4
    assert images.skipped_lines(scan.skipped.to_dict()) == scan.skipped.lines()  # an index's last run
    assert list_images(root, exclude=["*.tmp", "IMG_*.PNG", "drafts", "raw/**", "2023/*/thumbs"]) == [
        root / p for p in _relative(scan.paths, root)
    ]


def test_exclude_path_patterns_anchor_and_trailing_slash_means_folders_only(tmp_path: Path) -> None:
    from lookalike.images import scan_images

    root = tmp_path / "photos"
    for rel in ["top.jpg", "sub/top.jpg", "cache.jpg", "cache/a.jpg", "sub/cache/b.jpg", "x/y/z.png"]:
        _touch_image(root / rel)
    anchored = _relative(scan_images(root, exclude=["/top.jpg"]).paths, root)  # the root's own alone
    assert anchored == ["cache/a.jpg", "cache.jpg", "sub/cache/b.jpg", "sub/top.jpg", "x/y/z.png"]
    only_folders = scan_images(root, exclude=["cache/"])  # the folders named cache, not cache.jpg
    assert _relative(only_folders.paths, root) == ["cache.jpg", "sub/top.jpg", "top.jpg", "x/y/z.png"]
    assert only_folders.skipped.excluded_folders == 2 and only_folders.skipped.excluded == 0
    anywhere = scan_images(root, exclude=["**/y/*.png", "sub/*"])
    assert _relative(anywhere.paths, root) == ["cache/a.jpg", "cache.jpg", "top.jpg"]
    assert anywhere.skipped.lines() == ["2 files and 1 folder excluded by pattern"]


def test_an_excluded_folder_is_never_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.images import scan_images

    root = tmp_path / "photos"
    _touch_image(root / "a.jpg")
    _touch_image(root / "huge/b.jpg")
    _touch_image(root / "locked/c.jpg")
    _touch_image(root / "keep/locked/d.jpg")  # not the root's own locked/: listed
    real_scandir = os.scandir
    listed: list[str] = []

    def watch(path: Any = ".") -> Any:
        rel = Path(path).relative_to(root).as_posix()
        listed.append(rel)
        if rel == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", watch)
    scan = scan_images(root, exclude=["huge", "/locked"])  # no on_error: an unreadable folder would raise
    assert _relative(scan.paths, root) == ["a.jpg", "keep/locked/d.jpg"]
    assert sorted(listed) == [".", "keep", "keep/locked"]
    assert (scan.skipped.excluded_folders, scan.skipped.excluded, scan.skipped.total) == (2, 0, 0)
    assert scan.skipped.lines() == ["2 folders excluded by pattern"]


def test_skipped_adds_the_excluded_counts() -> None:
    from lookalike.images import Skipped

    total = Skipped(unknown={".txt": 1}, excluded=2, excluded_folders=1)
    total.add(Skipped(excluded=3))
    assert (total.excluded, total.excluded_folders, total.total) == (5, 1, 6)
    assert total.lines() == [
        "1 file of unknown type skipped (.txt 1)",
        "5 files and 1 folder excluded by pattern",
    ]
    assert images.skipped_lines({"total": 1, "no_reader": {}, "unknown": {".txt": 1}}) == [
        "1 file of unknown type skipped (.txt 1)"  # an index's last run from before exclude patterns
    ]


@pytest.mark.parametrize("pattern", ["", "/", " ", "//"])
def test_an_empty_exclude_pattern_is_one_clear_error(tmp_path: Path, pattern: str) -> None:
    from lookalike.errors import LookalikeError
    from lookalike.images import scan_images

    _touch_image(tmp_path / "a.jpg")
    with pytest.raises(LookalikeError) as info:
        scan_images(tmp_path, exclude=["*.tmp", pattern])
    assert str(info.value) == (
        f"exclude pattern {pattern!r} is empty; give each `exclude` pattern a glob such as *.tmp, drafts "
        "or raw/**"
    )
    with pytest.raises(TypeError, match="not one string"):
        scan_images(tmp_path, exclude="*.tmp")
