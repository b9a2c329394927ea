"""The copies people make of an image, as pure functions: issue 18's list of what is still a duplicate.

Each edit takes a PIL RGB image and a :class:`random.Random` and returns ``(edited, fmt, options)``: the
edited image, the format to save it in (``png``, ``jpeg`` or ``webp``) and the keyword arguments for
``Image.save`` — so the same call with the same generator state always writes the same file::

    rng = random.Random(0)
    img, fmt, options = apply("scan", original, rng)
    path = save(img, folder / "copy", fmt, options)  # folder/copy.jpg, JPEG quality 85

Orientation convention (``RELATION``, ``ORIENTATION``): "rotated θ" is Pillow's ``ROTATE_θ``,
counter-clockwise (``numpy.rot90`` with ``k = θ / 90``); "mirrored" is ``FLIP_LEFT_RIGHT``; "mirrored and
rotated θ" is ``FLIP_LEFT_RIGHT`` first, then ``ROTATE_θ``. So Pillow's ``TRANSPOSE`` (the main diagonal) is
"mirrored and rotated 90°" and ``TRANSVERSE`` (the other diagonal) is "mirrored and rotated 270°"; a vertical
flip would be "mirrored and rotated 180°". :func:`orient` applies one of these eight, so
``orient(original, *ORIENTATION[e])`` is what a geometric edit ``e`` did to the pixels.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from family_spots import Box, contains, placed, shifted
from hard_negatives import CATEGORIES

if TYPE_CHECKING:
    from PIL import Image

Edited = tuple["Image.Image", str, dict[str, Any]]

EDITS = (
    "jpeg30",
    "small",
    "webp",
    "bright",
    "dark",
    "contrast",
    "gamma",
    "cast",
    "scan",
    "crop5",
    "crop75",
    "letterbox",
    "frame",
    "pillarbox",
    "rot90",
    "rot180",
    "rot270",
    "mirror",
    "transpose",
    "transverse",
)
DESCRIPTION = {
    "jpeg30": "JPEG quality 30",
    "small": "25% of each side (50% when the long side would fall under 200 px), Lanczos, PNG",
    "webp": "lossy WebP quality 75",
    "bright": "brightness +12%",
    "dark": "brightness −12%",
    "contrast": "contrast ×0.85 or ×1.15",
    "gamma": "gamma 0.87 or 1.15",
    "cast": "colour cast: one channel up, another down, by 3–6%",
    "scan": "scanned: rotated 0.3–1.5°, blurred 0.6–1.0 px, noise σ 3/255, JPEG q85",
    "crop5": "5% cut off every side (81% of the area kept); shifted to keep a look-alike family's spots",
    "crop75": "a crop keeping 75–80% of the area, each side ≥ 80%, at a random place that keeps a look-alike "
    "family's spots",
    "letterbox": "a black frame, 10% of each side, around the unscaled image",
    "frame": "a white frame, 5–20% of each side, around the unscaled image",
    "pillarbox": "scaled into a 4:3 ↔ 16:9 canvas, grey, black or dark-blue bars ≤ 25% a side, JPEG q90",
    "rot90": "rotated 90° counter-clockwise",
    "rot180": "rotated 180°",
    "rot270": "rotated 270° counter-clockwise (90° clockwise)",
    "mirror": "mirrored left-right",
    "transpose": "mirrored across the main diagonal (mirrored, then rotated 90°)",
    "transverse": "mirrored across the other diagonal (mirrored, then rotated 270°)",
}
# (mirrored first, then counter-clockwise quarter turns): what a geometric edit did to the pixels
ORIENTATION = dict.fromkeys(EDITS, (False, 0)) | {
    "rot90": (False, 1),
    "rot180": (False, 2),
    "rot270": (False, 3),
    "mirror": (True, 0),
    "transpose": (True, 1),
    "transverse": (True, 3),
}


def relation(mirrored: bool, turns: int) -> str:
    """The words for an orientation: ``relation(True, 1) == "mirrored and rotated 90°"``."""
    turns %= 4
    if not mirrored:
        return f"rotated {90 * turns}°" if turns else "identity"
    return f"mirrored and rotated {90 * turns}°" if turns else "mirrored"


RELATION = {edit: relation(*ORIENTATION[edit]) for edit in EDITS}
CROPS = ("crop5", "crop75")  # the edits that cut: a crop of a look-alike keeps its family's spots
GEOMETRIC = tuple(e for e in EDITS if ORIENTATION[e] != (False, 0))
# nobody keeps a mirrored document, chart, chat or app window; photos, shapes and codes get all 20 edits
MIRRORED_KEPT = ("photo", "sky", "object", "code")
EDITS_OF = {
    c: EDITS if c in MIRRORED_KEPT else tuple(e for e in EDITS if not ORIENTATION[e][0]) for c in CATEGORIES
}
SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


def orient(img: Image.Image, mirrored: bool, turns: int) -> Image.Image:
    """``img`` mirrored left-right (when ``mirrored``), then turned ``turns`` × 90° counter-clockwise."""
    from PIL import Image

    if mirrored:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    rotate = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
    return img.transpose(rotate[turns % 4]) if turns % 4 else img


def _png(img: Image.Image) -> Edited:
    return img, "png", {}


def jpeg30(img: Image.Image, rng: random.Random) -> Edited:
    return img, "jpeg", {"quality": 30}


def small(img: Image.Image, rng: random.Random) -> Edited:
    from PIL import Image

    scale = 0.25 if max(img.size) * 0.25 >= 200 else 0.5
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return _png(img.resize(size, Image.Resampling.LANCZOS))


def webp(img: Image.Image, rng: random.Random) -> Edited:
    return img, "webp", {"quality": 75}


def bright(img: Image.Image, rng: random.Random) -> Edited:
    from PIL import ImageEnhance

    return _png(ImageEnhance.Brightness(img).enhance(1.12))


def dark(img: Image.Image, rng: random.Random) -> Edited:
    from PIL import ImageEnhance

    return _png(ImageEnhance.Brightness(img).enhance(0.88))


def contrast(img: Image.Image, rng: random.Random) -> Edited:
    from PIL import ImageEnhance

    return _png(ImageEnhance.Contrast(img).enhance(rng.choice((0.85, 1.15))))


def gamma(img: Image.Image, rng: random.Random) -> Edited:
    g = rng.choice((0.87, 1.15))
    lut = [round(255 * (v / 255) ** g) for v in range(256)]
    return _png(img.point(lut * 3))


def cast(img: Image.Image, rng: random.Random) -> Edited:
    up, down = rng.sample(range(3), 2)
    gains = [1.0, 1.0, 1.0]
    gains[up] += rng.uniform(0.03, 0.06)
    gains[down] -= rng.uniform(0.03, 0.06)
    lut = [min(255, round(v * g)) for g in gains for v in range(256)]
    return _png(img.point(lut))


def border_colour(img: Image.Image) -> tuple[int, int, int]:
    """The median colour of the outermost ring of pixels."""
    import numpy as np

    a = np.asarray(img)
    ring = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    r, g, b = (int(v) for v in np.median(ring, axis=0))
    return r, g, b


def scan(img: Image.Image, rng: random.Random) -> Edited:
    import numpy as np
    from PIL import Image, ImageFilter

    angle = rng.uniform(0.3, 1.5) * rng.choice((-1, 1))
    out = img.rotate(angle, Image.Resampling.BICUBIC, expand=False, fillcolor=border_colour(img))
    if min(img.size) >= 64:  # 0.6 px at 64 px, 1.0 px from 2000 px on the long side
        radius = 0.6 + 0.4 * min(1.0, (max(img.size) - 64) / 1936)
        out = out.filter(ImageFilter.GaussianBlur(radius))
    noise = np.random.default_rng(rng.getrandbits(64)).normal(0.0, 3.0, (img.height, img.width, 3))
    a = np.clip(np.asarray(out, dtype=np.float32) + noise, 0, 255).round().astype(np.uint8)
    return Image.fromarray(a), "jpeg", {"quality": 85}


def crop5_box(size: tuple[int, int], keep: Box | None = None) -> Box:
    """The box :func:`crop5` cuts from an image of ``size``: 90% of each side (81% of the area), centred; if
    that would cut into ``keep``, shifted by the least that holds it (``family_spots.shifted``)."""
    w, h = round(size[0] * 0.9), round(size[1] * 0.9)  # 90% of each side, 81% of the area
    x, y = (size[0] - w) // 2, (size[1] - h) // 2
    box = (x, y, x + w, y + h)
    return box if keep is None or contains(box, keep) else shifted(box, keep, size)


def crop75_box(size: tuple[int, int], rng: random.Random, keep: Box | None = None) -> Box:
    """The box :func:`crop75` cuts from an image of ``size``: 75–80% of the area, each side ≥ 80%, at a random
    place; with ``keep``, among the boxes that hold it, or (when none of 75–80% can) the least box of ≥ 75%
    with sides ≥ 80% that does. Without ``keep``, ``rng`` draws a width, a height, x and y."""
    w, h = size
    lo, hi = 0.75 * w * h, 0.80 * w * h

    def heights(cw: int) -> range:  # whole-pixel heights that keep 75–80% of the area, each side ≥ 80%
        return range(max(-(-4 * h // 5), -int(-lo // cw)), min(h, int(hi // cw)) + 1)

    widths = [cw for cw in range(-(-4 * w // 5), w + 1) if heights(cw)]
    if not widths:
        raise ValueError(f"no crop of {w}×{h} keeps 75–80% of the area with sides ≥ 80%")
    if keep is None:
        cw = rng.choice(widths)
        ch = rng.choice(heights(cw))
        return placed(cw, ch, None, size, rng)
    kw, kh = keep[2] - keep[0], keep[3] - keep[1]
    fits = {cw: [ch for ch in heights(cw) if ch >= kh] for cw in widths if cw >= kw}
    fits = {cw: chs for cw, chs in fits.items() if chs}
    if fits:
        cw = rng.choice(list(fits))
        ch = rng.choice(fits[cw])
    else:  # the spots spread too far for a crop of 75–80%: the least larger box around them
        cw = max(kw, -(-4 * w // 5))
        ch = min(h, max(kh, -(-4 * h // 5), -int(-lo // cw)))
    return placed(cw, ch, keep, size, rng)


def crop_box(
    edit: str, size: tuple[int, int], rng: random.Random, keep: Box | None = None
) -> tuple[Box, Box]:
    """The box that ``edit`` (one of :data:`CROPS`) cuts from an image of ``size`` so that it holds ``keep``
    (the spots in which a look-alike's original differs from its family, ``family_spots.spot_boxes``), and
    the box it draws when nothing need be kept. ``rng`` advances exactly as without ``keep``, so every later
    edit draws as before; a crop75 box that would cut a spot is drawn again, among the boxes that hold
    ``keep``, by a generator seeded with the image size, the first box and ``keep`` (so one seed still
    writes one set). A crop5 box is shifted instead (:func:`crop5_box`)."""
    if edit not in CROPS:
        raise ValueError(f"{edit!r} is no crop; pick from {', '.join(CROPS)}")
    drawn = crop5_box(size) if edit == "crop5" else crop75_box(size, rng)
    if keep is None or contains(drawn, keep):
        return drawn, drawn
    if edit == "crop5":
        return crop5_box(size, keep), drawn
    return crop75_box(size, random.Random(f"crop75 {size} {drawn} {keep}"), keep), drawn


def cropped(
    edit: str, img: Image.Image, rng: random.Random, *, keep: Box | None = None
) -> tuple[Edited, Box, Box]:
    """``edit`` (one of :data:`CROPS`) applied to ``img``, keeping the box ``keep``; also the box it cut and
    the box it would have cut with nothing to keep (see :func:`crop_box`)."""
    box, drawn = crop_box(edit, img.size, rng, keep)
    return _png(img.convert("RGB").crop(box)), box, drawn


def crop5(img: Image.Image, rng: random.Random) -> Edited:
    return _png(img.crop(crop5_box(img.size)))


def crop75(img: Image.Image, rng: random.Random) -> Edited:
    return _png(img.crop(crop75_box(img.size, rng)))


def _framed(img: Image.Image, fraction: float, colour: tuple[int, int, int]) -> Image.Image:
    from PIL import Image

    dx, dy = round(img.width * fraction), round(img.height * fraction)
    canvas = Image.new("RGB", (img.width + 2 * dx, img.height + 2 * dy), colour)
    canvas.paste(img, (dx, dy))
    return canvas


def letterbox(img: Image.Image, rng: random.Random) -> Edited:
    return _png(_framed(img, 0.10, (0, 0, 0)))


def frame(img: Image.Image, rng: random.Random) -> Edited:
    return _png(_framed(img, rng.uniform(0.05, 0.20), (255, 255, 255)))


# a picture of one of these aspects goes into a canvas of its partner: 4:3 ↔ 16:9, 3:4 ↔ 9:16, 1:1 → 4:3
ASPECT_PARTNER = {16 / 9: 4 / 3, 4 / 3: 16 / 9, 1.0: 4 / 3, 3 / 4: 9 / 16, 9 / 16: 3 / 4}
BAR_COLOURS = ((128, 128, 128), (0, 0, 0), (16, 24, 64))


def pillarbox(img: Image.Image, rng: random.Random) -> Edited:
    import math

    from PIL import Image

    w, h = img.size
    aspect = w / h
    target = ASPECT_PARTNER[min(ASPECT_PARTNER, key=lambda a: abs(math.log(aspect / a)))]
    if not 0.5 <= min(aspect / target, target / aspect) <= 0.97:  # odd shapes: bars of 10% a side
        target = aspect / 0.8 if aspect < 1 else aspect * 0.8
    long = max(w, h)
    cw, ch = (long, round(long / target)) if target >= 1 else (round(long * target), long)
    scale = min(cw / w, ch / h)
    content = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (cw, ch), rng.choice(BAR_COLOURS))
    canvas.paste(content, ((cw - content.width) // 2, (ch - content.height) // 2))
    return canvas, "jpeg", {"quality": 90}


def _oriented(edit: str) -> Callable[[Image.Image, random.Random], Edited]:
    def run(img: Image.Image, rng: random.Random) -> Edited:
        return _png(orient(img, *ORIENTATION[edit]))

    run.__name__ = edit
    run.__doc__ = DESCRIPTION[edit]
    return run


rot90, rot180, rot270 = _oriented("rot90"), _oriented("rot180"), _oriented("rot270")
mirror, transpose, transverse = _oriented("mirror"), _oriented("transpose"), _oriented("transverse")

EDIT_FUNCTIONS: dict[str, Callable[[Image.Image, random.Random], Edited]] = {
    name: globals()[name] for name in EDITS
}


def apply(edit: str, img: Image.Image, rng: random.Random, *, source_fmt: str = "png") -> Edited:
    """``edit`` applied to ``img``; the geometric edits of a JPEG original (``source_fmt="jpeg"``) are saved
    as JPEG quality 90, as a phone re-saves a turned photo, all others as the edit says."""
    if edit not in EDIT_FUNCTIONS:
        raise ValueError(f"unknown edit {edit!r}; pick from {', '.join(EDITS)}")
    out, fmt, options = EDIT_FUNCTIONS[edit](img.convert("RGB"), rng)
    if edit in GEOMETRIC and source_fmt == "jpeg":
        fmt, options = "jpeg", {"quality": 90}
    return out, fmt, options


def save(img: Image.Image, stem: Path, fmt: str, options: dict[str, Any]) -> Path:
    """Write ``img`` to ``stem`` with the suffix of ``fmt`` (``png``, ``jpeg``, ``webp``); return the path."""
    if fmt not in SUFFIX:
        raise ValueError(f"unknown format {fmt!r}; pick from {', '.join(SUFFIX)}")
    path = stem.with_suffix(SUFFIX[fmt])
    img.save(path, format={"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt], **options)
    return path
