"""Text pages and app windows (issue 9): families of one layout whose members differ only in their words.

* :func:`page` — text pages (A4 at 150 dpi, 1240×1754, or letter at 100 dpi) in one :class:`PageLayout`
  per family: font, size, margins and line count fixed; only the (random) words differ.
* :func:`screenshot` — app windows of one layout (title bar, sidebar, header, cards, a table) whose text
  differs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drawing import font, words

if TYPE_CHECKING:
    from PIL import Image


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
