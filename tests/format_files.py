"""Image files in the formats of optional readers, written by the tests themselves: HEIC (pillow-heif), AVIF
(Pillow), JPEG XL (pillow-jxl-plugin), and a camera DNG built with tifffile (a Bayer mosaic, its colour
matrix and a preview) that LibRaw demosaics; plus a Display P3 ICC profile built by hand."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.formats import pillow_formats

ORIENTATION = 0x0112


def photo(width: int = 240, height: int = 160, seed: int = 0) -> Image.Image:
    """A photo-like RGB picture: smooth colour fields, a few shapes and mild grain (no flat areas)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    a = np.empty((height, width, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.3)
        a[..., c] = 128 + 80 * np.sin(fx * x / width * 6.3 + ph) * np.cos(fy * y / height * 6.3)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(8, min(width, height) / 4)
        disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        a[disc] = rng.uniform(20, 235, 3)
    a += rng.normal(0, 3, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def save(img: Image.Image, path: Path, *, orientation: int = 1, **options: object) -> Path:
    """``img`` saved at ``path`` in the format its extension names (the optional plugins registered
    first), with an EXIF orientation tag when ``orientation`` is not 1."""
    pillow_formats()
    if orientation != 1:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    img.save(path, **options)  # type: ignore[arg-type]
    return path


# XYZ → linear sRGB (IEC 61966-2-1), to build colour matrices.
_XYZ_TO_SRGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])


def dng(
    img: Image.Image, path: Path, *, preview: Image.Image | None = None, flip: int = 1, bits: int = 12
) -> Path:
    """A linear DNG of ``img``: an RGGB Bayer mosaic of its linear light (``bits`` deep) in a sub-IFD,
    a colour matrix that makes the camera's RGB the linear sRGB primaries (D65), and ``preview`` (8-bit
    RGB, uncompressed) as the main IFD, as cameras store a preview. ``flip`` is the TIFF orientation
    (1 upright, 3 180°, 6 90° clockwise, 8 90° counter-clockwise)."""
    import tifffile

    a = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    lin = a[:h, :w] ** 2.2
    top = (1 << bits) - 1
    cfa = np.empty((h, w), np.uint16)
    cfa[0::2, 0::2] = np.rint(lin[0::2, 0::2, 0] * top)
    cfa[0::2, 1::2] = np.rint(lin[0::2, 1::2, 1] * top)
    cfa[1::2, 0::2] = np.rint(lin[1::2, 0::2, 1] * top)
    cfa[1::2, 1::2] = np.rint(lin[1::2, 1::2, 2] * top)
    matrix = [v for row in _XYZ_TO_SRGB for x in row for v in (round(x * 10000), 10000)]
    small = preview if preview is not None else img.resize((max(1, w // 8), max(1, h // 8)))
    with tifffile.TiffWriter(path) as tw:
        tw.write(
            np.asarray(small.convert("RGB")),
            photometric="rgb",
            subfiletype=1,
            subifds=1,
            extratags=[
                (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
                (50708, "s", 0, "lookalike test camera", True),  # UniqueCameraModel
                (50721, "2i", 9, matrix, True),  # ColorMatrix1 (XYZ → camera)
                (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
                (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
                (274, "H", 1, flip, True),  # Orientation
            ],
        )
        tw.write(
            cfa,
            photometric=32803,  # CFA
            subfiletype=0,
            extratags=[
                (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
                (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
                (50717, "I", 1, top, True),  # WhiteLevel
            ],
        )
    return path


# Display P3: the DCI-P3 primaries with the D65 white and the sRGB tone curve (here gamma 2.2).
_P3_XY = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
_D65 = (0.3127, 0.3290)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
_D50_XYZ = np.array([0.9642, 1.0, 0.8249])


def p3_to_xyz_d65() -> np.ndarray:
    """Linear Display P3 RGB → XYZ (D65) matrix."""
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in _P3_XY]).T
    white = np.array([_D65[0] / _D65[1], 1.0, (1 - _D65[0] - _D65[1]) / _D65[1]])
    return xyz * np.linalg.solve(xyz, white)


def p3_profile(gamma: float = 2.2) -> bytes:
    """An ICC v2 matrix/TRC profile of Display P3 (colorants Bradford-adapted to D50), built from its
    primaries, as LittleCMS reads it."""
    m = p3_to_xyz_d65()
    white = m @ np.ones(3)
    lms_src, lms_dst = _BRADFORD @ white, _BRADFORD @ _D50_XYZ
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(lms_dst / lms_src) @ _BRADFORD
    colorants = adapt @ m

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v: np.ndarray) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(float(c)) for c in v)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = b"Display P3 (test)\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * (4 + 4 + 2 + 1 + 67)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(_D50_XYZ)),
        (b"rXYZ", xyz(colorants[:, 0])),
        (b"gXYZ", xyz(colorants[:, 1])),
        (b"bXYZ", xyz(colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data
