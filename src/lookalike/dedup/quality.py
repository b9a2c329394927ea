"""What one image file says about its quality: format, losslessness, JPEG quality, capture time, sharpness.

A duplicate group holds one picture several times; the copies differ in what was lost making them.
:func:`read_quality` reads the facts that tell them apart, for :mod:`lookalike.dedup.keeper` to rank:
the format and whether it is lossless (a lossless file whose pixels carry the 8×8 block grid of a decoded
JPEG counts as lossy: it is no better than the JPEG it came from), the JPEG quality behind the
quantization tables (:func:`estimate_jpeg_quality`), the EXIF capture time, and an edge
:func:`sharpness`. NumPy and Pillow only.

>>> q = read_quality("photo.jpg")  # doctest: +SKIP
>>> q.format, q.quality, q.lossless
('JPEG', 90, False)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lookalike.errors import ImageError
from lookalike.formats import RAW, format_of, pillow_formats
from lookalike.images import image_size, load_image

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

#: The quality a lossy file without quantization tables counts as (WebP, JPEG-compressed TIFF, a lossless
#: file decoded from a JPEG): the default quality of libjpeg, Pillow's JPEG writer and cwebp.
UNKNOWN_QUALITY = 75

# Sharpness is measured on the grey picture reduced to this long side (at most), with this share of each
# side left out at the edges (where a slight rotation leaves wedges of fill colour).
SHARPNESS_SIDE = 1024
SHARPNESS_MARGIN = 0.03
# The JPEG grid check (_jpeg_grid): tiles of 32 px vote for the column (row) phase of their strongest
# steps, in a central crop of at most GRID_SIDE; it says "decoded JPEG" when at least GRID_AGREEMENT of the
# voting tiles agree in both directions. Measured: 0 of 300 drawn pages, documents, charts, code, chats,
# screens, single shapes and photos without a JPEG past; photos decoded from JPEG quality 75 or 90 and
# then brightened, gamma-changed, turned or cropped by a few pixels are found unless nearly black
# (Hubble deep field); text pages decoded from a JPEG and most quality 95 decodes are not.
GRID_TILE = 32
GRID_AGREEMENT = 0.5
GRID_SIDE = 1024
GRID_MIN_TILES = 16
GRID_SMALL = 64  # a picture of fewer tiles (under about 260×260 px) may be too small to tell: None

_LOSSLESS_FORMATS = frozenset({"PNG", "BMP", "DIB", "GIF", "PPM", "TGA", "QOI", "PCX", "PSD"})
_LOSSY_TIFF = frozenset({"jpeg", "tiff_jpeg", "webp"})
_EXIF_IFD, _DATETIME_ORIGINAL, _DATETIME = 0x8769, 0x9003, 0x0132

# ITU-T T.81 Annex K tables in natural (row-major) order, the order Pillow gives ``img.quantization`` in.
_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32  # fmt: skip


@dataclass(frozen=True)
class FileQuality:
    """What one file says about its quality, read by :func:`read_quality`.

    ``format`` is Pillow's name (``JPEG``, ``PNG``, ``WEBP``…, empty when unknown); ``lossless`` whether
    the encoding keeps every pixel; ``quality`` the estimated JPEG quality (``None`` without quantization
    tables); ``capture_time`` the EXIF capture time as POSIX seconds (the camera's clock read as UTC;
    ``None`` when absent); ``sharpness`` the :func:`sharpness` of the pixels (``None`` when they could not
    be read or show no edges); ``from_jpeg`` whether a lossless file's pixels carry a decoded JPEG's block
    grid (``None``: too small to tell, see :func:`_jpeg_grid`; always ``False`` for lossy files).
    """

    format: str
    lossless: bool
    quality: int | None = None
    capture_time: float | None = None
    sharpness: float | None = None
    from_jpeg: bool | None = False

    @property
    def clean_lossless(self) -> bool:
        """Lossless and never a JPEG before: the pixels are as the picture was made."""
        return self.lossless and self.from_jpeg is False

    @property
    def rated_quality(self) -> int | None:
        """The quality the cascade compares: the estimated JPEG quality, :data:`UNKNOWN_QUALITY` for lossy
        files without one and lossless files made from a JPEG, ``None`` (no rating: never dropped for it)
        for other lossless files."""
        if self.lossless and not self.from_jpeg:
            return None
        return self.quality if self.quality is not None else UNKNOWN_QUALITY

    def describe(self) -> str:
        """A few words for messages: ``lossless PNG``, ``JPEG ≈90``, ``lossy WebP``, ``PNG made from a
        JPEG``, ``small PNG``."""
        name = format_name(self.format)
        if self.lossless and self.from_jpeg is None:
            return f"small {name}"
        if self.from_jpeg:
            return f"{name} made from a JPEG"
        if self.lossless:
            return f"lossless {name}"
        if self.quality is not None:
            return f"{name} ≈{self.quality}"
        return f"lossy {name}"


#: The facts of a file whose quality was not read: lossy, nothing known.
UNKNOWN_FILE = FileQuality(format="", lossless=False)


def estimate_jpeg_quality(quantization: Mapping[int, Sequence[int]]) -> int | None:
    """The IJG (libjpeg) quality, 1–100, whose scaled Annex K tables best match ``quantization``.

    ``quantization`` is what Pillow gives as ``img.quantization`` after ``Image.open`` (tables in natural
    order, no pixels decoded): table 0 is compared with the scaled luminance table and table 1, when
    present, with the chrominance one. Files written by libjpeg, libjpeg-turbo or Pillow give their
    quality back exactly; other tables (cameras, editors) give the nearest quality by least squares.
    ``None`` when there is no 64-entry table.

    >>> estimate_jpeg_quality({0: [8, 6, 5, 8, 12, 20, 26, 31] + [1] * 56})  # doctest: +SKIP
    75
    >>> from PIL import Image
    >>> with Image.open("photo.jpg") as img:  # doctest: +SKIP
    ...     estimate_jpeg_quality(img.quantization)
    90
    """
    import numpy as np

    tables = [
        np.asarray(quantization[k], dtype=np.int64)
        for k in (0, 1)
        if k in quantization and len(quantization[k]) == 64
    ]
    if not tables or 0 not in quantization or len(quantization[0]) != 64:
        return None
    luma, chroma = _scaled_tables()
    cap = 255 if max(int(t.max()) for t in tables) <= 255 else 32767  # baseline tables are 8-bit
    errors = ((np.minimum(luma, cap) - tables[0]) ** 2).sum(axis=1)
    if len(tables) > 1:
        errors = errors + ((np.minimum(chroma, cap) - tables[1]) ** 2).sum(axis=1)
    return int(errors.argmin()) + 1


@cache
def _scaled_tables() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """libjpeg's luminance and chrominance tables for qualities 1–100 (rows), before the baseline clamp."""
    import numpy as np

    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)[:, None]

    def scaled(base: tuple[int, ...]) -> npt.NDArray[np.int64]:
        return np.clip((np.asarray(base, dtype=np.int64)[None, :] * scale + 50) // 100, 1, 32767)

    return scaled(_LUMA), scaled(_CHROMA)


def read_quality(
    path: str | os.PathLike[str], box: tuple[float, float, float, float] | None = None
) -> FileQuality:
    """The quality facts of one image file (see :class:`FileQuality`).

    The header gives the format, the JPEG quantization tables and the EXIF capture time (no pixels
    decoded); the pixels (JPEGs decoded at reduced size) give the :func:`sharpness` (inside ``box``, the
    picture without a border, when given) and, for lossless
    files, whether they carry a decoded JPEG's block grid. Raises :class:`ImageError` when the file cannot
    be opened as an image; anything beyond that which fails (damaged EXIF, damaged pixel data) gives a
    neutral value instead (``None``, ``False``). About 0.05 s for a 12-megapixel JPEG (decoded at half
    size), 0.3 s for a 12-megapixel PNG (decoded whole, for the grid check).

    >>> read_quality("scan.jpg")  # doctest: +SKIP
    FileQuality(format='JPEG', lossless=False, quality=85, capture_time=None, sharpness=0.74, ...)
    """
    from PIL import Image

    file = Path(path)
    if format_of(file) is RAW:  # the sensor's data: nothing was lost making it
        sharp, _ = _pixel_facts(file, *image_size(file), check_grid=False, box=box)
        return FileQuality("RAW", True, None, None, sharp, False)
    try:
        with file.open("rb") as fp:
            webp_lossless = _webp_lossless(fp)
            fp.seek(0)
            with Image.open(fp, formats=pillow_formats()) as img:
                fmt = img.format or ""
                lossless = _is_lossless(img, webp_lossless)
                quality = _jpeg_quality(img) if fmt in ("JPEG", "MPO") else None
                capture = _capture_time(img)
                width, height = img.size
    except FileNotFoundError:
        raise ImageError(f"{file}: no such file; check the path") from None
    except PermissionError:
        raise ImageError(f"{file}: permission denied; make the file readable (chmod +r)") from None
    except Exception as exc:  # Pillow reports unreadable headers with many exception types
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise ImageError(f"{file}: cannot read it as an image ({reason}); check or remove the file") from None
    sharp, from_jpeg = _pixel_facts(file, width, height, check_grid=lossless, box=box)
    return FileQuality(fmt, lossless, quality, capture, sharp, from_jpeg)


def sharpness(img: Image.Image) -> float | None:
    """How sharp a picture's edges are: higher for the sharper of two copies of one picture.

    The grey picture, reduced to at most 1024 px on the long side, with 3% of each side left out: the mean
    of the top 1% of gradient magnitudes (central differences), divided by the same on the picture halved
    (2×2 means). Blur lowers the first more than the second; a brightness, contrast or gamma change
    scales both alike, and mild noise and JPEG blocking hardly reach the top 1%. Typical values 0.6–1.6;
    ``None`` for a picture without edges or under 24 px. Compare only values measured this way, on
    pictures of about the same size.

    >>> sharpness(load_image("page.png")) > sharpness(load_image("page-scan.jpg"))  # doctest: +SKIP
    True
    """
    import numpy as np
    from PIL import Image

    grey = img if img.mode == "L" else img.convert("L")
    long = max(grey.size)
    if long > SHARPNESS_SIDE:
        f = SHARPNESS_SIDE / long
        size = (max(1, round(grey.width * f)), max(1, round(grey.height * f)))
        grey = grey.resize(size, Image.Resampling.BOX)
    return _sharpness(np.asarray(grey, dtype=np.float32))


def _sharpness(a: npt.NDArray[np.float32]) -> float | None:
    h, w = a.shape
    dy, dx = int(h * SHARPNESS_MARGIN) + 1, int(w * SHARPNESS_MARGIN) + 1
    a = a[dy : h - dy, dx : w - dx]
    if min(a.shape) < 20:
        return None
    half = a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2]
    half = half.reshape(half.shape[0] // 2, 2, half.shape[1] // 2, 2).mean(axis=(1, 3))
    coarse = _top_gradient(half)
    return None if coarse <= 0.0 else _top_gradient(a) / coarse


def _top_gradient(a: npt.NDArray[np.float32]) -> float:
    """Mean of the top 1% of central-difference gradient magnitudes (the border rows and columns left out)."""
    import numpy as np

    gx = (a[1:-1, 2:] - a[1:-1, :-2]) * 0.5
    gy = (a[2:, 1:-1] - a[:-2, 1:-1]) * 0.5
    m = np.hypot(gx, gy).ravel()
    k = max(1, m.size // 100)
    return float(np.partition(m, m.size - k)[-k:].mean())


def _pixel_facts(
    file: Path,
    width: int,
    height: int,
    *,
    check_grid: bool,
    box: tuple[float, float, float, float] | None = None,
) -> tuple[float | None, bool | None]:
    """Sharpness (inside ``box``, fractions: a frame's edges are not the picture's) and (for lossless
    files) the JPEG grid check, from one decode; neutral on failure (the file's format has the last word on
    losslessness)."""
    import numpy as np

    short = max(1, -(-SHARPNESS_SIDE * min(width, height) // max(width, height, 1)))
    try:  # a square draft keeps the JPEG's reduction the same whatever its EXIF orientation
        grey = load_image(file, draft=(short, short)).convert("L")
        from_jpeg = _jpeg_grid(np.asarray(grey, dtype=np.float32)) if check_grid else False
        if box is not None:
            w, h = grey.size
            grey = grey.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))
        return sharpness(grey), from_jpeg
    except (ImageError, OSError, ValueError):  # changed or damaged since the scan: nothing to say
        return None, False


def _jpeg_grid(a: npt.NDArray[np.float32]) -> bool | None:
    """Whether the grey pixels ``a`` (full size) carry the 8×8 block grid of a decoded JPEG; ``None`` when
    a small picture has too few textured tiles to tell.

    The step at each column boundary beyond the neighbouring slopes (clipped, so that strong edges do not
    dominate) is summed down each 32×32 tile's columns, per phase mod 8; a phase counts in a tile as the
    second weakest of its four 8-px block columns (so one drawn edge does not make a grid), and each tile
    with such steps votes for its strongest phase. A decoded JPEG's tiles agree on one phase, in columns
    and in rows; drawn content (text, charts, interfaces, shapes) and camera pixels spread their votes.
    """
    import numpy as np

    h, w = a.shape
    top, left = max(0, (h - GRID_SIDE) // 2), max(0, (w - GRID_SIDE) // 2)
    a = a[top : top + GRID_SIDE, left : left + GRID_SIDE]
    for b in (a, a.T):
        d = np.diff(b, axis=1)
        step = np.minimum(np.abs(d[:, 1:-1] - 0.5 * (d[:, :-2] + d[:, 2:])), 6.0)
        rows, cols = step.shape[0] // GRID_TILE, step.shape[1] // GRID_TILE
        blocks = step[: rows * GRID_TILE, : cols * GRID_TILE].reshape(
            rows, GRID_TILE, cols, GRID_TILE // 8, 8
        )
        per_phase = np.sort(blocks.sum(axis=1).reshape(-1, GRID_TILE // 8, 8), axis=1)[:, 1]
        live = per_phase[per_phase.max(axis=1) > GRID_TILE / 8]
        if len(live) < GRID_MIN_TILES:
            return None if rows * cols < GRID_SMALL else False
        votes = np.bincount(live.argmax(axis=1), minlength=8)
        if votes.max() < GRID_AGREEMENT * len(live):
            return False
    return True


def _webp_lossless(fp: BinaryIO) -> bool:
    """Whether the file is a WebP whose (first) image is VP8L, the lossless bitstream: walks the RIFF
    chunks (``VP8X`` extended files put ``ICCP``/``ANIM`` chunks first, animations nest frames)."""
    head = fp.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return False
    for _ in range(64):
        chunk = fp.read(8)
        if len(chunk) < 8:
            return False
        tag, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        if tag == b"VP8L":
            return True
        if tag == b"VP8 ":
            return False
        if tag == b"ANMF":
            fp.seek(16, os.SEEK_CUR)  # the frame header; its image chunks follow
        else:
            fp.seek(size + (size & 1), os.SEEK_CUR)
    return False


def _is_lossless(img: Image.Image, webp_lossless: bool) -> bool:
    fmt = img.format or ""
    if fmt in _LOSSLESS_FORMATS:
        return True
    if fmt == "TIFF":
        return str(img.info.get("compression", "raw")) not in _LOSSY_TIFF
    return fmt == "WEBP" and webp_lossless


def _jpeg_quality(img: Image.Image) -> int | None:
    try:
        return estimate_jpeg_quality(getattr(img, "quantization", None) or {})
    except Exception:  # odd tables: quality unknown
        return None


def _capture_time(img: Image.Image) -> float | None:
    """EXIF DateTimeOriginal (Exif IFD), else DateTime, as POSIX seconds read as UTC; ``None`` if absent."""
    if img.format == "PNG" and "exif" not in img.info:
        return None  # Pillow would decode the whole PNG to look for an EXIF block after the pixels
    try:
        exif = img.getexif()
        found = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    except Exception:  # damaged EXIF
        return None
    return _exif_time(found)


def _exif_time(value: object) -> float | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    try:
        when = datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc).timestamp()


def format_name(fmt: str) -> str:
    """The name people know a Pillow format by: ``WebP``, ``JPEG`` for MPO, ``BMP`` for DIB."""
    return {"WEBP": "WebP", "MPO": "JPEG", "DIB": "BMP", "HEIF": "HEIC", "JXL": "JPEG XL", "": "file"}.get(
        fmt, fmt
    )


#: A lossless file whose pixels are a fixed function of a JPEG's decoded pixels to within this RMS (grey
#: levels, per channel) was made from that JPEG (converted, brightened, gamma-changed, framed): a JPEG
#: made from the lossless file differs from it by its compression noise, 0.4–5 levels at quality 75–95
#: on pictures with texture.
DERIVED_RMS = 0.3
#: Long side (px) of the central part of both files compared.
DERIVED_SIDE = 1024


def made_from_jpeg(
    lossless: Path,
    jpeg: Path,
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
) -> bool:
    """Whether the pixels of ``lossless`` inside ``box`` (fractions: a frame added around the picture is
    left out) are a fixed function of the decoded pixels of ``jpeg`` — one value out for each value in,
    per channel (a conversion, or a tone edit that keeps the pixels where they are) — the two at the same
    size. Such a file holds nothing its JPEG does not; the keeper ranks it like that JPEG. ``False`` when
    the sizes differ (a resampled copy is no pixel-for-pixel function) or a file cannot be read.

    A picture a JPEG reproduces exactly (flat colours) passes both ways: then the two hold the same
    pixels, and either may be called made from the other.
    """
    import numpy as np

    try:
        lo = np.asarray(load_image(lossless).convert("RGB"))
        jp = np.asarray(load_image(jpeg).convert("RGB"))
    except (ImageError, OSError, ValueError):
        return False
    h, w = lo.shape[:2]
    bh, bw = jp.shape[:2]
    slack = max(2, -(-max(h, w) // 256))  # the box was found on a 256 px thumbnail: known to a few pixels
    top, left = round((box[1] + box[3]) * h / 2 - bh / 2), round((box[0] + box[2]) * w / 2 - bw / 2)
    if abs((box[3] - box[1]) * h - bh) > 2 * slack or abs((box[2] - box[0]) * w - bw) > 2 * slack:
        return False
    # the offset, found on a central patch; then the fit over up to DERIVED_SIDE px
    cy, cx, half = bh // 2, bw // 2, min(64, bh // 2, bw // 2)
    patch = jp[cy - half : cy + half, cx - half : cx + half]
    offsets = [
        (y, x)
        for y in range(top - slack, top + slack + 1)
        for x in range(left - slack, left + slack + 1)
        if y >= 0 and x >= 0 and y + bh <= h and x + bw <= w
    ]
    if not offsets or half < 8:
        return False
    y, x = min(
        offsets,
        key=lambda o: _function_rms(
            lo[o[0] + cy - half : o[0] + cy + half, o[1] + cx - half : o[1] + cx + half], patch
        ),
    )
    return _function_rms(lo[y : y + bh, x : x + bw], jp) <= DERIVED_RMS


def _function_rms(out: npt.NDArray[np.uint8], source: npt.NDArray[np.uint8]) -> float:
    """The RMS (grey levels) of ``out`` about the best per-channel function of ``source`` (the mean of
    ``out`` at each source value), over a central part of at most :data:`DERIVED_SIDE` px a side."""
    import numpy as np

    h, w = source.shape[:2]
    top, left = max(0, (h - DERIVED_SIDE) // 2), max(0, (w - DERIVED_SIDE) // 2)
    out = out[top : top + DERIVED_SIDE, left : left + DERIVED_SIDE]
    source = source[top : top + DERIVED_SIDE, left : left + DERIVED_SIDE]
    worst = 0.0
    for c in range(3):
        s = source[..., c].ravel().astype(np.intp)
        o = out[..., c].ravel().astype(np.float64)
        mean = np.bincount(s, o, 256) / np.maximum(np.bincount(s, minlength=256), 1)
        worst = max(worst, float(np.sqrt(((o - mean[s]) ** 2).mean())))
    return worst
