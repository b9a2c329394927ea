"""Camera RAW and DNG files as 8-bit RGB, through rawpy (LibRaw): ``pip install 'lookalike[raw]'``.

A RAW file holds the sensor's mosaic and, nearly always, a JPEG preview the camera made from it. When a
caller will shrink the picture anyway (``draft``), the preview is decoded if it is at least that large
and has the picture's shape: a few milliseconds against the second or more a full demosaic takes. Else,
or when the preview is missing or damaged, the mosaic is demosaiced by LibRaw (camera white balance,
sRGB, 8 bits), at half size when that is still large enough. Either way the camera's orientation is
applied. The choice is recorded in ``img.info["raw_source"]`` (``"preview"`` or ``"demosaic"``).

>>> load_raw(Path("IMG_0001.CR2"), draft=(512, 512)).info["raw_source"]  # doctest: +SKIP
'preview'
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError
from lookalike.formats import RAW, missing_reader

if TYPE_CHECKING:
    from PIL import Image

#: A preview is used only when its aspect ratio is within this share of the picture's (some cameras
#: store a 16:9 or letterboxed preview of a 3:2 picture).
ASPECT_TOLERANCE = 0.02

# LibRaw's flip code → the transpose that applies it (3: 180°, 5: 90° counter-clockwise, 6: 90° clockwise).
_FLIPS = {3: 3, 5: 2, 6: 4}  # Image.Transpose.ROTATE_180, ROTATE_90, ROTATE_270
_TURNS = (5, 6)  # the flips that swap width and height


def load_raw(
    file: Path,
    *,
    draft: tuple[int, int] | None,
    limit: int | None,
    where: str,
    data: bytes | None = None,
) -> Image.Image:
    """Read a camera RAW or DNG file (see the module docstring); errors are one-line :class:`ImageError`.

    ``limit`` (pixels) refuses larger sensors before anything is decoded; ``where`` says how to raise it.
    ``data``: the file's bytes, already in memory (an upload; ``file`` then only names it in messages).
    ``img.info["source_size"]`` is the full picture's (width, height), upright.
    """
    with _opened(file, data) as raw:
        upright, flip = _sizes(raw)
        width, height = upright
        if limit is not None and width * height > limit:
            raise ImageError(
                f"{file}: {width}×{height} = {width * height:,} pixels, over the limit of {limit:,} "
                f"(a possible decompression bomb); if you trust the file, raise the limit with {where}"
            )
        img = _preview(raw, flip, upright, draft) if draft is not None else None
        source = "preview"
        if img is None:
            img, source = _demosaic(raw, upright, draft), "demosaic"
    img.info["source_size"] = upright
    img.info["raw_source"] = source
    return img


def raw_size(file: Path) -> tuple[int, int]:
    """The picture's (width, height), upright, from the RAW file's header (nothing demosaiced)."""
    with _opened(file) as raw:
        return _sizes(raw)[0]


@contextmanager
def _opened(file: Path, data: bytes | None = None) -> Iterator[Any]:
    """The file (or ``data``) opened by LibRaw; every way that fails (no rawpy, damage) as one
    :class:`ImageError`. A missing, empty or unreadable file is :mod:`lookalike.images`' to report, with
    the one-line errors of every other format, before it calls here."""
    hint = missing_reader(RAW)
    if hint is not None:
        raise ImageError(f"{file}: {hint}")
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data) if data is not None else str(file)) as raw:
            yield raw
    except ImageError:
        raise
    except Exception as exc:  # LibRaw reports damage with many exception types
        raise _raw_error(file, exc) from None


def _sizes(raw: Any) -> tuple[tuple[int, int], int]:
    """The picture's (width, height), upright, and LibRaw's flip code (how the sensor stored it)."""
    sizes = raw.sizes
    width, height, flip = int(sizes.width), int(sizes.height), int(sizes.flip)
    return ((height, width) if flip in _TURNS else (width, height)), flip


def _preview(raw: Any, flip: int, upright: tuple[int, int], draft: tuple[int, int]) -> Image.Image | None:
    """The camera's embedded preview, upright, if it is large enough for ``draft`` and shaped like the
    picture; ``None`` when there is none, it is damaged, or it is too small."""
    import numpy as np
    from PIL import Image

    img: Image.Image
    try:
        thumb = raw.extract_thumb()
        if thumb.format.name == "JPEG":
            with Image.open(io.BytesIO(thumb.data), formats=["JPEG"]) as jpeg:
                jpeg.draft("RGB", _stored(draft, flip))
                img = jpeg.convert("RGB")
        else:
            img = Image.fromarray(np.asarray(thumb.data, dtype=np.uint8)).convert("RGB")
    except Exception:  # no preview, or a damaged one: the mosaic is still there
        return None
    if flip in _FLIPS:  # the preview is stored as the sensor saw it, like the mosaic
        img = img.transpose(Image.Transpose(_FLIPS[flip]))
    if abs(img.width / img.height - upright[0] / upright[1]) > ASPECT_TOLERANCE * upright[0] / upright[1]:
        return None
    if img.width < draft[0] or img.height < draft[1]:
        return None
    return img


def _stored(draft: tuple[int, int], flip: int) -> tuple[int, int]:
    """``draft`` (upright) in the orientation the sensor stored the picture."""
    return (draft[1], draft[0]) if flip in _TURNS else draft


def _demosaic(raw: Any, upright: tuple[int, int], draft: tuple[int, int] | None) -> Image.Image:
    """LibRaw's demosaic: camera white balance, sRGB, 8 bits; half size when ``draft`` allows it."""
    from PIL import Image

    half = draft is not None and upright[0] // 2 >= draft[0] and upright[1] // 2 >= draft[1]
    rgb = raw.postprocess(use_camera_wb=True, output_bps=8, half_size=half)
    return Image.fromarray(rgb).convert("RGB")


def _raw_error(file: Path, exc: Exception) -> ImageError:
    name = type(exc).__name__
    reason = (str(exc).strip().splitlines() or [name])[0][:120]
    if "Unsupported" in name:
        return ImageError(
            f"{file}: not a RAW file LibRaw can read ({reason}); convert it to DNG or TIFF, or remove it"
        )
    if "IO" in name or "truncat" in reason.lower() or "EOF" in name:
        return ImageError(
            f"{file}: RAW data is truncated or unreadable ({reason}); copy the file from the camera again"
        )
    return ImageError(
        f"{file}: RAW data is corrupt ({reason}); copy the file from the camera again, or remove it"
    )
