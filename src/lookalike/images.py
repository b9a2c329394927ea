"""Reading images: any common image file to an 8-bit RGB picture.

* :func:`load_image` — every format in :mod:`lookalike.formats` (JPEG, PNG, WebP, HEIC, AVIF, JPEG XL,
  TIFF, GIF, BMP, camera RAW through :mod:`lookalike.raw`, …; animations give their first frame) in any
  pixel mode, EXIF orientation applied, transparency composited on white, 16-bit and float data scaled to
  8 bits, fast reduced-size decoding with ``draft`` (JPEG scales, HEIC thumbnails, RAW previews), and a
  decompression-bomb guard.
* :func:`image_size` — width and height (after EXIF orientation) from the header alone.
* :func:`frame_count` — the frames or pages of an animation or a multi-page file.

Finding the images in a folder (``scan_images``, ``list_images`` and their ``Skipped`` counts) is
:mod:`lookalike.scanning`'s; this module still gives those names, the same objects, so that
``from lookalike.images import scan_images`` keeps working.

Every problem with a file raises :class:`~lookalike.errors.ImageError` with one line that names the file,
says what is wrong and what to do.

>>> from lookalike.images import load_image
>>> from lookalike.scanning import list_images
>>> [load_image(p, draft=(224, 224)).size for p in list_images("photos")]  # doctest: +SKIP
[(512, 384), (384, 512)]
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING

from lookalike.errors import ImageError
from lookalike.formats import RAW, format_of, missing_reader, pillow_formats, readable_names, sniff
from lookalike.raw import load_raw, raw_size
from lookalike.scanning import (
    ImageScan,
    Skipped,
    _stat,
    check_exclude,
    list_images,
    scan_images,
    skipped_lines,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image, ImageCms, ImageFile

__all__ = [
    "MAX_PIXELS_ENV",
    "ImageScan",
    "Skipped",
    "check_exclude",
    "frame_count",
    "image_size",
    "list_images",
    "load_image",
    "looks_like_text",
    "needs_colour_conversion",
    "scan_images",
    "skipped_lines",
]

#: Environment variable that overrides the default pixel limit of :func:`load_image`.
MAX_PIXELS_ENV = "LOOKALIKE_MAX_PIXELS"

# Formats whose decoders can decode smaller than stored: JPEG at 1/2, 1/4, 1/8 scale, HEIF an embedded
# thumbnail.
_DRAFT_FORMATS = frozenset({"JPEG", "MPO", "HEIF"})
_ORIENTATION_TAG = 0x0112
_SWAPS_SIDES = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90° (width and height swap)
_WHITE = (255, 255, 255)

# Guards Pillow's global MAX_IMAGE_PIXELS while lookalike switches Pillow's own bomb check off (see
# _pillow_check_off); reentrant so the default limit can be read while it is held.
_pillow_limit_lock = threading.RLock()


def load_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = None,
    draft: tuple[int, int] | None = None,
) -> Image.Image:
    """Read an image file as a fully decoded 8-bit RGB image, upright as its EXIF orientation says.

    Pixel modes become RGB as follows: palette, grayscale, 1-bit, CMYK, YCbCr, LAB and HSV by Pillow's
    conversions; anything with transparency (an alpha channel, a palette alpha or a ``transparency`` colour)
    is composited on white; 16-bit integers (``I;16*``, and ``I`` read as 0–65535, clipped) are scaled by
    255/65535 and rounded, so 65535 → 255 and 32768 → 128; 32-bit float (``F``) data in [0, 1] is scaled
    by 255, data already in [0, 255] is kept, and any other range is stretched from its minimum to its
    maximum (NaN becomes the minimum). Multi-frame files (GIF, TIFF, WebP) give their first frame.

    ``draft=(width, height)`` lets a JPEG decode at 1/2, 1/4 or 1/8 scale, as long as the result stays at
    least that size in the final orientation — a large speed-up when the caller shrinks the image anyway.
    Other formats ignore it. ``img.info["source_size"]`` is the stored image's (width, height) in the final
    orientation, before any draft: what :func:`image_size` says, without opening the file again.

    ``max_pixels`` refuses images with more pixels before any pixel is decoded. It defaults to the
    ``LOOKALIKE_MAX_PIXELS`` environment variable, else to Pillow's ``Image.MAX_IMAGE_PIXELS`` (no limit
    if that is ``None``). Pillow's own decompression-bomb warning and error never escape: lookalike's check
    replaces them, so a raised limit is honoured even beyond Pillow's.

    Raises :class:`ImageError` for a missing, unreadable, empty, truncated, corrupt or oversized file, a
    directory, a broken symbolic link, or a file that is not an image. The file is closed on return.

    >>> img = load_image("photo.jpg", draft=(256, 256))  # doctest: +SKIP
    >>> img.mode, min(img.size) >= 256
    ('RGB', True)
    """
    from PIL import Image, ImageOps

    if draft is not None and (len(draft) != 2 or min(draft) < 1):
        raise ValueError(f"draft must be (width, height) with positive sizes, got {draft}")
    file = Path(path)
    limit, where = _pixel_limit(max_pixels)
    if format_of(file) is RAW:
        with _open_file(file):  # a missing or empty file: the one-line errors of every other format
            pass
        return load_raw(file, draft=draft, limit=limit, where=where)
    with _open_file(file) as fp:
        img = _identify(file, fp)
        width, height = img.size
        if limit is not None and width * height > limit:
            raise ImageError(
                f"{file}: {width}×{height} = {width * height:,} pixels, over the limit of {limit:,} "
                f"(a possible decompression bomb); if you trust the file, raise the limit with {where}"
            )
        swap = _orientation(img) in _SWAPS_SIDES
        try:
            if draft is not None and img.format in _DRAFT_FORMATS:
                img.draft("RGB", (draft[1], draft[0]) if swap else draft)
            with _pillow_limit_lock:
                pillow_limit = Image.MAX_IMAGE_PIXELS
            # Formats that re-check the size while decoding (TIFF, GIF) must not trip over Pillow's
            # smaller limit once lookalike's own check has let the image through.
            with _pillow_check_off(pillow_limit is not None and width * height > pillow_limit):
                # counted before decoding: counting seeks through the frames and back to the first
                frames = _frames(img)
                img.load()
        except Exception as exc:  # Pillow reports damaged data with many exception types
            raise _decode_error(file, exc) from None
    with suppress(Exception):  # damaged EXIF: the pixels are fine, keep them as stored
        ImageOps.exif_transpose(img, in_place=True)
    out = _to_rgb(_icc_to_srgb(img), file)
    out.info["source_size"] = (height, width) if swap else (width, height)
    out.info["frames"] = frames
    return out


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image as :func:`load_image` returns it, read from the header alone.

    EXIF orientations 5–8 swap the two sides. No pixels are decoded and no pixel limit applies, so it is
    cheap enough to rank thousands of files (e.g. keep the largest of a group of duplicates). A PNG whose
    EXIF block follows the pixel data is reported as stored. Errors are :class:`ImageError`.

    >>> image_size("portrait.jpg")  # doctest: +SKIP
    (3024, 4032)
    """
    file = Path(path)
    if format_of(file) is RAW:
        with _open_file(file):  # as for load_image
            pass
        return raw_size(file)
    with _open_file(file) as fp:
        img = _identify(file, fp)
        width, height = img.size
        return (height, width) if _orientation(img) in _SWAPS_SIDES else (width, height)


def frame_count(path: str | os.PathLike[str]) -> int:
    """How many frames or pages an image file holds (an animated GIF, WebP or PNG, a multi-page TIFF);
    lookalike reads the first. 1 for still images, camera RAW and files it cannot open (nothing decoded).

    >>> frame_count("spinner.gif")  # doctest: +SKIP
    12
    """
    file = Path(path)
    if format_of(file) is RAW:
        return 1
    try:
        with _open_file(file) as fp:
            img = _identify(file, fp)
            return _frames(img)
    except (ImageError, OSError, ValueError, EOFError):
        return 1


def _frames(img: Image.Image) -> int:
    """The frames or pages of an opened image; 1 for a phone's MPO JPEG, whose second picture is a depth or
    gain map (or the other eye of a stereo pair), not a frame."""
    if img.format == "MPO" or not getattr(img, "is_animated", False):
        return 1
    return int(getattr(img, "n_frames", 1))


# ----------------------------------------------------------------------------------------------------------
# Helpers


def _pixel_limit(max_pixels: int | None) -> tuple[int | None, str]:
    """The pixel limit in force and how the user can raise it."""
    from PIL import Image

    if max_pixels is not None:
        if max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
        return max_pixels, "max_pixels"
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ImageError(
                f"{MAX_PIXELS_ENV}={raw!r} is not a positive whole number of pixels; set it "
                f"like {MAX_PIXELS_ENV}=300000000 or unset it"
            )
        return value, MAX_PIXELS_ENV
    with _pillow_limit_lock:
        return Image.MAX_IMAGE_PIXELS, f"{MAX_PIXELS_ENV}=<pixels>"


@contextmanager
def _pillow_check_off(off: bool = True) -> Iterator[None]:
    """Switch Pillow's own decompression-bomb check off while lookalike's check stands in for it.

    Pillow reads one global, so it is changed under a lock and restored on exit; other lookalike
    threads wait, and only header parsing (or the decoding of an image already checked) runs inside.
    """
    if not off:
        yield
        return
    from PIL import Image

    with _pillow_limit_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


@contextmanager
def _open_file(file: Path) -> Iterator[IO[bytes]]:
    """Open ``file`` for reading, turning every way it can fail into one clear :class:`ImageError`."""
    st = _stat(file, missing="no such file")
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{file}: is a folder, not an image file; pass an image file inside it")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{file}: is not a regular file (a device, pipe or socket); pass an image file")
    if st.st_size == 0:
        raise ImageError(f"{file}: is empty (0 bytes); copy or download it again, or remove it")
    try:
        fp = file.open("rb")
    except PermissionError:
        raise ImageError(
            f"{file}: permission denied; make the file readable (chmod +r) or run as a user who can read it"
        ) from None
    except OSError as exc:
        raise ImageError(
            f"{file}: cannot read ({exc.strerror or exc}); check the file and the disk"
        ) from None
    with fp:
        yield fp


def _identify(file: Path, fp: IO[bytes]) -> ImageFile.ImageFile:
    """Parse the header of an open file; no pixels are decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _pillow_check_off():
            return Image.open(fp, formats=pillow_formats())
    except UnidentifiedImageError:
        fp.seek(0)
        head = fp.read(512)
        fmt = sniff(head) or format_of(file)
        hint = missing_reader(fmt) if fmt is not None else None
        if hint is not None:
            raise ImageError(f"{file}: {hint}") from None
        what = "it looks like text" if looks_like_text(head) else f"it starts with bytes {head[:8].hex(' ')}"
        raise ImageError(
            f"{file}: not an image lookalike can read ({what}); lookalike reads {readable_names()} "
            "files: convert it or remove it"
        ) from None
    except Exception as exc:  # Pillow reports damaged headers with many exception types
        raise _decode_error(file, exc) from None


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file read as UTF-8 text (no NUL; a character cut at the end is fine)."""
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # The 512-byte cut may split a multi-byte character.
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _decode_error(file: Path, exc: Exception) -> ImageError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
    if isinstance(exc, EOFError) or (isinstance(exc, OSError) and "truncated" in reason.lower()):
        return ImageError(
            f"{file}: image data is truncated (the file ends early, as after an interrupted "
            "copy or download); copy or download it again"
        )
    return ImageError(
        f"{file}: image data is corrupt ({reason}); re-save or download the file again, or remove it"
    )


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1–8) without decoding pixels; 1 when absent or unreadable."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1  # Pillow would decode the whole PNG to look for an EXIF block after the pixels
    try:
        value = int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # damaged EXIF: treat the image as upright
        return 1
    return value if 1 <= value <= 8 else 1


def needs_colour_conversion(img: Image.Image) -> bool:
    """Whether :func:`load_image` converts ``img``'s colours (an embedded ICC profile other than sRGB):
    a decoder that skips that step (a JPEG decoded on the GPU) must leave such files to it."""
    return _colour_transform(img) is not None


def _colour_transform(img: Image.Image) -> ImageCms.ImageCmsTransform | None:
    """The transform to sRGB for RGB, RGBA or CMYK pixels with an embedded ICC profile other than sRGB;
    ``None`` for other images and profiles LittleCMS cannot read."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return None
    return _srgb_transform(bytes(icc), img.mode)


def _icc_to_srgb(img: Image.Image) -> Image.Image:
    """Pixels with an embedded ICC profile other than sRGB (Display P3 from phones, Adobe RGB from cameras,
    a print CMYK) converted to sRGB through it; others, and images whose profile cannot be read, as they
    are."""
    from PIL import ImageCms

    transform = _colour_transform(img)
    if transform is None:
        return img
    try:
        out = ImageCms.applyTransform(img, transform)
    except Exception:  # a profile that does not fit the pixels: keep them as stored
        return img
    assert out is not None
    out.info = {k: v for k, v in img.info.items() if k != "icc_profile"}
    return out


@lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from ``icc`` to sRGB for ``mode`` pixels (made once per profile); ``None`` for an
    sRGB profile (nothing to do) or one LittleCMS cannot read."""
    import io

    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(profile) or ""
        if "srgb" in name.lower().replace(" ", "").replace("-", ""):
            return None
        out_mode = "RGBA" if mode == "RGBA" else "RGB"
        return ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), mode, out_mode)
    except Exception:  # a damaged or unsupported profile: the pixels stay as stored
        return None


def _to_rgb(img: Image.Image, file: Path) -> Image.Image:
    """8-bit RGB from any Pillow mode (the rules are in :func:`load_image`'s docstring)."""
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        img = Image.fromarray(_gray_to_uint8(img))
    if img.mode in ("La", "RGBa"):  # premultiplied alpha
        img = img.convert(img.mode.upper())
    try:
        if img.has_transparency_data:
            rgba = img.convert("RGBA")
            out = Image.new("RGB", rgba.size, _WHITE)
            out.paste(rgba, mask=rgba.getchannel("A"))
            return out
        return img.convert("RGB")
    except ValueError as exc:
        raise ImageError(
            f"{file}: pixel mode {img.mode} cannot be converted to RGB ({exc}); re-save the file as 8-bit RGB"
        ) from None


def _gray_to_uint8(img: Image.Image) -> npt.NDArray[np.uint8]:
    """16-bit, 32-bit integer and float single-channel pixels as a uint8 array."""
    import numpy as np

    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
        if lo >= 0.0 and hi <= 1.0:
            a = a * 255.0
        elif not (lo >= 0.0 and hi <= 255.0):
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    a16 = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
    return ((a16 * 255 + 32767) // 65535).astype(np.uint8)
