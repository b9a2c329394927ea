"""Images that look alike but are not duplicates, and planted true duplicates of them.

Used by ``tests/dedup/`` and ``benchmarks/dedup.py`` (issue 9). Everything is drawn here with Pillow
and the fonts that matplotlib ships, so no download and no system font is needed. Four categories of
distinct originals, each a family of images that share a layout:

* ``page``       — text pages (A4 at 150 dpi, 1240×1754, or letter at 100 dpi) in one layout per family: font,
  size, margins and line count fixed; only the (random) words differ. Dense and sparse families.
* ``screenshot`` — app windows of one layout (title bar, sidebar, header, cards, a table) whose text differs.
* ``object``     — one simple shape on white, at different places, sizes and colours.
* ``sky``        — CIFAR-10 airplanes, birds and ships on a plain sky or sea (from ``../shared``), when given.

and the planted variants: ``jpeg`` (quality 70), ``resize`` (50% per side), ``crop`` (95% of each side at a
random place) and ``mirror`` (left-right, photos only).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

CATEGORIES = ("page", "screenshot", "object", "sky")
VARIANTS = ("jpeg", "resize", "crop", "mirror")
# which variants make sense for which category: a mirrored page or window is not a copy anyone keeps
VARIANTS_OF = {
    "page": ("jpeg", "resize", "crop"),
    "screenshot": ("jpeg", "resize", "crop"),
    "object": ("jpeg", "resize", "crop"),
    "sky": ("jpeg", "resize", "crop", "mirror"),
}
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf")
SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + ["th", "st", "an", "er", "on", "in"]


def font(name: str, size: int) -> object:
    """A TrueType font that matplotlib ships (DejaVu, STIX), at ``size`` pixels."""
    import matplotlib
    from PIL import ImageFont

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    return ImageFont.truetype(str(path), size)


def words(rng: random.Random, n: int) -> list[str]:
    """Pseudo-words of 1–4 syllables; some capitalised, some with a comma or full stop."""
    out = []
    for _ in range(n):
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))))
        if rng.random() < 0.1:
            w = w.capitalize()
        if rng.random() < 0.08:
            w += rng.choice(",.")
        out.append(w)
    return out


@dataclass(frozen=True)
class PageLayout:
    """What all pages of a family share; only the words differ."""

    size: tuple[int, int]
    font: str
    font_px: int
    margin: int
    lines: int
    title_px: int
    columns: int = 1


PAGE_LAYOUTS = (
    PageLayout((1240, 1754), "DejaVuSerif.ttf", 26, 150, 46, 44),  # dense A4
    PageLayout((1240, 1754), "DejaVuSans.ttf", 34, 180, 18, 52),  # sparse A4
    PageLayout((1240, 1754), "DejaVuSansMono.ttf", 22, 120, 60, 40, 2),  # dense, two columns
    PageLayout((850, 1100), "STIXGeneral.ttf", 20, 90, 38, 34),  # letter at 100 dpi
    PageLayout((850, 1100), "DejaVuSans.ttf", 28, 100, 12, 40),  # sparse letter
)


def page(layout: PageLayout, rng: random.Random) -> Image.Image:
    """A white page in ``layout`` with random words: a title, then ragged-right lines (or two columns)."""
    from PIL import Image, ImageDraw

    w, h = layout.size
    img = Image.new("RGB", layout.size, "white")
    draw = ImageDraw.Draw(img)
    body = font(layout.font, layout.font_px)
    draw.text(
        (layout.margin, layout.margin),
        " ".join(words(rng, 4)),
        fill=(20, 20, 20),
        font=font(layout.font, layout.title_px),
    )
    top = layout.margin + int(layout.title_px * 2.2)
    step = (h - layout.margin - top) / layout.lines
    gap = 40
    col_w = (w - 2 * layout.margin - gap * (layout.columns - 1)) // layout.columns
    for c in range(layout.columns):
        x0 = layout.margin + c * (col_w + gap)
        for i in range(layout.lines):
            y = top + i * step
            line: list[str] = []
            # the last line of a paragraph is short: same place in every page of the family
            target = col_w * (0.45 if i % 9 == 8 else 0.97)
            while True:
                candidate = " ".join([*line, *words(rng, 1)])
                if draw.textlength(candidate, font=body) > target:
                    break
                line = candidate.split(" ")
            draw.text((x0, y), " ".join(line), fill=(0, 0, 0), font=body)
    return img


def screenshot(layout: int, rng: random.Random) -> Image.Image:
    """An app window of layout 0 (a mail client, 1280×800) or 1 (a dashboard, 1440×900) with random text."""
    from PIL import Image, ImageDraw

    size = (1280, 800) if layout == 0 else (1440, 900)
    accent = (45, 110, 200) if layout == 0 else (30, 150, 110)
    img = Image.new("RGB", size, (248, 248, 250))
    d = ImageDraw.Draw(img)
    ui, ui_bold = font("DejaVuSans.ttf", 15), font("DejaVuSans.ttf", 20)
    w, h = size
    d.rectangle((0, 0, w, 36), fill=(230, 230, 233))  # title bar
    for i, c in enumerate(((236, 95, 90), (245, 190, 80), (100, 200, 90))):
        d.ellipse((12 + 22 * i, 11, 26 + 22 * i, 25), fill=c)
    d.text((w // 2 - 60, 9), "Mailbox" if layout == 0 else "Overview", fill=(60, 60, 60), font=ui)
    side = 240
    d.rectangle((0, 36, side, h), fill=(238, 240, 244))  # sidebar with fixed items
    for i, item in enumerate(("Inbox", "Starred", "Sent", "Drafts", "Archive", "Spam", "Trash")):
        y = 60 + 34 * i
        if i == 0:
            d.rectangle((8, y - 6, side - 8, y + 22), fill=accent)
        d.text((24, y), item, fill="white" if i == 0 else (50, 50, 50), font=ui)
    d.rectangle((side, 36, w, 90), fill="white")  # header: a search box and a button
    d.rounded_rectangle((side + 20, 48, side + 420, 78), 6, outline=(200, 200, 205), fill=(252, 252, 252))
    d.rounded_rectangle((w - 150, 48, w - 20, 78), 6, fill=accent)
    d.text((w - 130, 54), "Compose" if layout == 0 else "Export", fill="white", font=ui)
    if layout == 0:  # a message list: sender, subject, snippet, time; each row's text differs
        for i in range(14):
            y = 100 + 48 * i
            d.line((side, y + 46, w, y + 46), fill=(225, 225, 230))
            d.text((side + 20, y + 6), " ".join(words(rng, 2)).title(), fill=(20, 20, 20), font=ui)
            d.text((side + 230, y + 6), " ".join(words(rng, 5)), fill=(40, 40, 40), font=ui)
            d.text((side + 230, y + 25), " ".join(words(rng, 9)), fill=(130, 130, 130), font=ui)
            d.text(
                (w - 80, y + 6), f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}", fill=(90, 90, 90), font=ui
            )
    else:  # four metric cards and a table
        for i in range(4):
            x = side + 20 + i * 290
            d.rounded_rectangle((x, 110, x + 270, 230), 10, fill="white", outline=(220, 220, 225))
            d.text((x + 16, 124), " ".join(words(rng, 2)).title(), fill=(90, 90, 90), font=ui)
            d.text((x + 16, 160), f"{rng.randint(100, 99999):,}", fill=(20, 20, 20), font=ui_bold)
        for r in range(12):
            y = 260 + 46 * r
            d.rectangle((side + 20, y, w - 20, y + 44), fill="white" if r % 2 else (243, 245, 248))
            for c in range(4):
                d.text((side + 36 + c * 290, y + 13), " ".join(words(rng, 2)), fill=(40, 40, 40), font=ui)
    return img


OBJECT_COLOURS = ((220, 40, 40), (40, 90, 220), (30, 160, 70), (240, 170, 20), (140, 60, 180), (20, 20, 20))


def shape(
    rng: random.Random,
    kind: str,
    colour: tuple[int, int, int],
    centre: tuple[float, float],
    radius: float,
    size: tuple[int, int] = (800, 600),
) -> Image.Image:
    """One filled circle, square or triangle on white; ``centre`` and ``radius`` as fractions of the width."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    w, h = size
    cx, cy, r = centre[0] * w, centre[1] * h, radius * w
    if kind == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "square":
        d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        d.polygon(((cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)), fill=colour)
    return img


def objects(rng: random.Random, n: int) -> list[Image.Image]:
    """``n`` distinct shape images: shapes repeat with another place (≥ 12% of the side away, also from
    the mirrored place), size or colour, so every image has look-alikes that differ in one of those only."""
    placed: list[tuple[str, tuple[int, int, int], float, float, float]] = []
    out = []
    while len(out) < n:
        kind = rng.choice(("circle", "square", "triangle"))
        colour = rng.choice(OBJECT_COLOURS[:3])  # few colours: many same-colour look-alikes
        radius = rng.choice((0.05, 0.08, 0.12))
        cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.75)
        # distinct also under what counts as a duplicate: a shift of < 12% (a crop keeping ≥ 90% of a side)
        # or a mirror image (every shape here is symmetric, so its mirror image sits at 1 - x)
        if any(
            k == kind
            and c == colour
            and r == radius
            and abs(y - cy) < 0.12
            and min(abs(x - cx), abs(1 - x - cx)) < 0.12
            for k, c, r, x, y in placed
        ):
            continue
        placed.append((kind, colour, radius, cx, cy))
        out.append(shape(rng, kind, colour, (cx, cy), radius))
    return out


def plain_background(path: Path, *, ring: int = 4, max_std: float = 12.0) -> bool:
    """Whether a CIFAR-10 image's outer ``ring`` pixels are nearly one colour (a plain sky or sea)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        a = np.asarray(img.convert("RGB"), dtype=np.float32)
    mask = np.ones(a.shape[:2], bool)
    mask[ring:-ring, ring:-ring] = False
    return bool(a[mask].std(0).max() <= max_std)


def sky_photos(cifar: Path, n: int, rng: random.Random) -> list[Path]:
    """``n`` CIFAR-10 airplanes, birds and ships whose background is plain (see :func:`plain_background`)."""
    found: list[Path] = []
    for cls in ("airplane", "bird", "ship"):
        files = sorted((cifar / cls).glob("*.jpg"))
        rng.shuffle(files)
        kept = [p for p in files[: n * 6] if plain_background(p)]
        found += kept[: (n + 2) // 3]
    return found[:n]


def variant(img: Image.Image, kind: str, rng: random.Random) -> tuple[Image.Image, str]:
    """A planted duplicate of ``img`` and the format to save it in (``jpeg`` must be saved as JPEG q70)."""
    from PIL import Image

    if kind == "jpeg":
        return img, "jpeg"
    if kind == "resize":
        return img.resize((img.width // 2, img.height // 2), Image.Resampling.BICUBIC), "png"
    if kind == "crop":
        w, h = round(img.width * 0.95), round(img.height * 0.95)
        x, y = rng.randint(0, img.width - w), rng.randint(0, img.height - h)
        return img.crop((x, y, x + w, y + h)), "png"
    if kind == "mirror":
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "png"
    raise ValueError(kind)


def save(img: Image.Image, path: Path, fmt: str) -> Path:
    """Write ``img`` as ``png`` or ``jpeg`` (quality 70) and return the path with the right suffix."""
    if fmt == "jpeg":
        path = path.with_suffix(".jpg")
        img.convert("RGB").save(path, quality=70)
    else:
        path = path.with_suffix(".png")
        img.save(path)
    return path


@dataclass(frozen=True)
class Planted:
    """A file :func:`build` wrote: its category, ``original`` or a variant kind, and the original's id."""

    path: Path
    category: str
    kind: str
    origin: int


def build(
    folder: Path,
    *,
    pages_per_layout: int = 8,
    screenshots_per_layout: int = 12,
    n_objects: int = 40,
    n_sky: int = 90,
    cifar: Path | None = None,
    variants_per_kind: dict[str, int] | None = None,
    seed: int = 0,
    layouts: Sequence[PageLayout] = PAGE_LAYOUTS,
) -> list[Planted]:
    """Write the hard-negative folder: the distinct originals of each category, then planted variants of
    ``variants_per_kind[category]`` originals per variant kind (default 8), each from a different original
    where there are enough. File names are random, so the listing order says nothing."""
    from PIL import Image

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    originals: list[tuple[str, Image.Image]] = []
    for layout in layouts:
        originals += [("page", page(layout, rng)) for _ in range(pages_per_layout)]
    for layout_id in (0, 1):
        originals += [("screenshot", screenshot(layout_id, rng)) for _ in range(screenshots_per_layout)]
    originals += [("object", img) for img in objects(rng, n_objects)]
    if cifar is not None and n_sky:
        for p in sky_photos(cifar, n_sky, rng):
            with Image.open(p) as opened:
                originals.append(("sky", opened.convert("RGB")))
    names = iter(rng.sample(range(10**7), 10 * len(originals) + 1000))
    planted: list[Planted] = []
    for i, (category, img) in enumerate(originals):
        # pages and screenshots as PNG (rendered), photos as JPEG q90 as cameras and phones keep them
        fmt = "jpeg" if category == "sky" else "png"
        path = folder / f"{next(names):07d}"
        if fmt == "jpeg":
            path = path.with_suffix(".jpg")
            img.save(path, quality=90)
        else:
            path = save(img, path, "png")
        planted.append(Planted(path, category, "original", i))
    per = variants_per_kind or {}
    for category in CATEGORIES:
        ids = [i for i, (c, _) in enumerate(originals) if c == category]
        for kind in VARIANTS_OF[category]:
            picks = rng.sample(ids, min(len(ids), per.get(category, 8)))
            for i in picks:
                img, fmt = variant(originals[i][1], kind, rng)
                path = save(img, folder / f"{next(names):07d}", fmt)
                planted.append(Planted(path, category, kind, i))
    return planted
