"""The image formats lookalike reads, the optional readers behind some of them, and what to install.

Pillow reads most formats itself. Four families need a reader of their own, each a maintained library
installed with an extra, and each switched on here the first time an image is opened:

=========  ==============================  ===================================  =====================
format     extensions                      reader                               install
=========  ==============================  ===================================  =====================
HEIC/HEIF  .heic .heif .hif                pillow-heif                          ``lookalike[heif]``
AVIF       .avif                           Pillow's own plugin, else            ``lookalike[avif]``
                                           pillow-avif-plugin
JPEG XL    .jxl                            pillow-jxl-plugin                    ``lookalike[jxl]``
RAW, DNG   .dng .cr2 .cr3 .nef .arw …      rawpy (LibRaw), :mod:`lookalike.raw`  ``lookalike[raw]``
=========  ==============================  ===================================  =====================

``pip install 'lookalike[formats]'`` installs all four. :func:`format_of` names a file's format from its
extension, :func:`missing_reader` says when its reader is not installed (the one line to show the user),
:func:`pillow_formats` lists the Pillow decoders lookalike lets loose on files (plugins that shell out,
such as EPS through Ghostscript, are never among them), and :func:`sniff` names a format from a file's
first bytes, so that a HEIC file saved as ``.jpg`` still gets the right advice.

>>> format_of("IMG_0001.HEIC").name, format_of("IMG_0001.HEIC").extra
('HEIC', 'heif')
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "IMAGE_EXTENSIONS",
    "Format",
    "format_of",
    "missing_reader",
    "pillow_formats",
    "sniff",
]


@dataclass(frozen=True)
class Format:
    """One image format as lookalike reads it.

    ``pillow`` are the Pillow format ids that decode it (empty for camera RAW, which :mod:`lookalike.raw`
    reads); ``extra`` the ``lookalike[extra]`` that installs its reader, ``module`` that reader's import
    name and ``package`` its name on PyPI (``None`` when Pillow reads it unaided); ``browser`` whether web
    browsers display the file as it is (the web page serves a JPEG preview of the others); ``lossless``
    whether the format always keeps every pixel (``None``: it can do both, and the file says).
    """

    name: str
    extensions: tuple[str, ...]
    pillow: tuple[str, ...]
    extra: str | None = None
    module: str | None = None
    package: str | None = None
    browser: bool = False
    lossless: bool | None = None

    @property
    def install(self) -> str:
        """The command that installs the reader: ``pip install 'lookalike[heif]'``."""
        return f"pip install 'lookalike[{self.extra}]'" if self.extra else ""


#: Camera RAW extensions (LibRaw reads several hundred cameras; these are the names they save under).
RAW_EXTENSIONS = (
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
    ".rwl", ".pef", ".srw", ".x3f", ".3fr", ".fff", ".erf", ".kdc", ".dcr", ".mrw", ".mos", ".iiq",
)  # fmt: skip

RAW = Format("RAW", RAW_EXTENSIONS, (), extra="raw", module="rawpy", package="rawpy", lossless=True)
HEIC = Format(
    "HEIC", (".heic", ".heif", ".hif"), ("HEIF",), extra="heif", module="pillow_heif", package="pillow-heif"
)
AVIF = Format(
    "AVIF",
    (".avif",),
    ("AVIF",),
    extra="avif",
    module="pillow_avif",
    package="pillow-avif-plugin",
    browser=True,
)
JXL = Format("JPEG XL", (".jxl",), ("JXL",), extra="jxl", module="pillow_jxl", package="pillow-jxl-plugin")

#: Every format lookalike reads, in the order messages list them.
FORMATS: tuple[Format, ...] = (
    Format("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), ("JPEG", "MPO"), browser=True, lossless=False),
    Format("PNG", (".png", ".apng"), ("PNG",), browser=True, lossless=True),
    Format("WebP", (".webp",), ("WEBP",), browser=True),
    HEIC,
    AVIF,
    JXL,
    Format("TIFF", (".tif", ".tiff"), ("TIFF",)),
    Format("GIF", (".gif",), ("GIF",), browser=True, lossless=True),
    Format("BMP", (".bmp", ".dib"), ("BMP", "DIB"), browser=True, lossless=True),
    RAW,
    Format("JPEG 2000", (".jp2", ".j2k", ".j2c", ".jpx", ".jpf"), ("JPEG2000",)),
    Format("PNM", (".ppm", ".pgm", ".pbm", ".pnm"), ("PPM",), lossless=True),
    Format("TGA", (".tga",), ("TGA",), lossless=True),
    Format("PSD", (".psd",), ("PSD",), lossless=True),
    Format("ICO", (".ico",), ("ICO",), browser=True),
    Format("QOI", (".qoi",), ("QOI",), lossless=True),
    Format("PCX", (".pcx",), ("PCX",), lossless=True),
)

_BY_EXTENSION = {ext: f for f in FORMATS for ext in f.extensions}
_BY_NAME = {f.name: f for f in FORMATS}

#: Lower-case extensions of every format in :data:`FORMATS`, whether or not its reader is installed.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(_BY_EXTENSION)


def format_of(path: str | os.PathLike[str]) -> Format | None:
    """The format a file's extension (any case) names, ``None`` for other files.

    >>> format_of("scan.TIF").name
    'TIFF'
    """
    return _BY_EXTENSION.get(Path(path).suffix.lower())


def missing_reader(fmt: Format) -> str | None:
    """``None`` when lookalike can read ``fmt`` here, else one line saying what to install.

    >>> missing_reader(format_of("a.heic"))  # without pillow-heif  # doctest: +SKIP
    "HEIC files need pillow-heif: pip install 'lookalike[heif]'"
    """
    if fmt.module is None or _reader_ready(fmt.name):
        return None
    return f"{fmt.name} files need {fmt.package}: {fmt.install}"


@cache
def _reader_ready(name: str) -> bool:
    """Whether the reader of format ``name`` is installed and registered with Pillow (imported once)."""
    from PIL import Image

    fmt = _BY_NAME[name]
    if fmt is RAW:
        return _importable("rawpy") is not None
    Image.init()
    if all(p in Image.OPEN for p in fmt.pillow):
        return True  # Pillow's own plugin (AVIF since Pillow 11.3), or registered before
    module = _importable(fmt.module) if fmt.module else None
    if module is None:
        return False
    if fmt.module == "pillow_heif":
        # Decode the primary image (phones add depth maps and thumbnails) with the orientation applied;
        # draft() may then pick an embedded thumbnail, as JPEG's draft picks a reduced scale.
        module.register_heif_opener(depth_images=False, aux_images=False)
    return all(p in Image.OPEN for p in fmt.pillow)


def _importable(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception:  # not installed, or broken: either way not a reader lookalike can use
        return None


@cache
def pillow_formats() -> tuple[str, ...]:
    """The Pillow format ids lookalike opens files with: every format in :data:`FORMATS` whose reader
    is installed (importing the optional plugins registers them with Pillow). Worked out once: every file
    opened asks."""
    from PIL import Image

    for fmt in FORMATS:
        if fmt.module is not None and fmt is not RAW:
            _reader_ready(fmt.name)
    Image.init()
    return tuple(p for f in FORMATS for p in f.pillow if p in Image.OPEN)


# The ISO base media file format's brands (bytes 8–12 after "ftyp") that name HEIF and AVIF files.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def sniff(head: bytes) -> Format | None:
    """The format of the optional readers that a file's first bytes show (HEIC, AVIF, JPEG XL, Canon
    CR3), ``None`` otherwise: used to name the missing reader when a file is not what its name says.

    >>> sniff(b"\\x00\\x00\\x00\\x18ftypheic").name
    'HEIC'
    """
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return AVIF
        if brand in _HEIF_BRANDS:
            return HEIC
        if brand == b"crx ":
            return RAW
    if head[:2] == b"\xff\x0a" or head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return JXL
    return None


def readable_names() -> str:
    """The formats lookalike reads here, for messages: ``JPEG, PNG, WebP, HEIC, …``."""
    return ", ".join(f.name for f in FORMATS if missing_reader(f) is None)
