"""Images that look alike but are not duplicates, and planted true duplicates of them.

Used by ``tests/dedup/`` and ``benchmarks/dedup.py`` (issue 9). Everything is drawn with Pillow (charts
with matplotlib) and the fonts that matplotlib ships, so no download and no system font is needed, by the
modules listed below. Four categories of distinct originals, each a family of images that share a layout:

* ``page``       — text pages (A4 at 150 dpi, 1240×1754, or letter at 100 dpi) in one layout per family: font,
  size, margins and line count fixed; only the (random) words differ. Dense and sparse families.
* ``screenshot`` — app windows of one layout (title bar, sidebar, header, cards, a table) whose text differs.
* ``object``     — one simple shape on white, at different places, sizes and colours.
* ``sky``        — CIFAR-10 airplanes, birds and ships on a plain sky or sea (from ``../shared``), when given.

Issue 18 adds five categories, each again in families of one template whose members differ in little:

* ``document``   — thermal receipts (80 mm: 576 px wide, 58 mm: 384 px, at 203 dpi) and A4 invoices
  (1240×1754) of one template per family; two members differ ONLY in 1–4 digits (a total, a date, a time, an
  invoice number, a quantity), each digit string keeping its length, so all else is pixel-identical.
* ``chart``      — matplotlib bar and line charts (1000×700) of one style, title, axes and colours per family;
  the values differ, some pairs in one bar or one point only (by 12–20%).
* ``code``       — QR-like codes (25×25 modules, 10 px each, 4-module quiet zone) with random data, and
  EAN-13 barcodes of consecutive article numbers (the last digit and the check digit differ).
* ``chat``       — phone chat screenshots of one app (1080×2340 or 750×1334): most members are other
  conversations; some share one and differ in one message or in the clock's digits.
* ``photo``      — scikit-image's bundled photos (those that load offline) and crops of some of them that keep
  36% of the area, at two different corners (so no crop contains another, or 75% of the photo).

Every two originals are distinct also under the eight orientations (identity, rotations by 90°, 180°, 270°,
mirrored and mirrored+rotated): a rotated or mirrored copy is a duplicate now (issue 18).

and the planted variants: ``jpeg`` (quality 70), ``resize`` (50% per side), ``crop`` (95% of each side at a
random place) and ``mirror`` (left-right, photos only) — or, with ``build(edits=...)``, the edits of
``planted_edits.py`` (JPEG q30, 25% size, WebP, brightness, gamma, a scan, crops, frames, rotations, ...),
each applied to the original (never to another copy). A crop of an original whose family differs in small
spots (``spot_group``: documents, the one-value charts, barcodes, the chats sharing a conversation) keeps
every spot in which the original differs from the rest of its group (``family_spots``), so no crop is also a
crop of a look-alike; its box is in :attr:`Planted.box`.

The drawing lives in one module per concept, re-exported here (``hn.page``, ``hn.documents``, ...):

* ``drawing``         — fonts, pseudo-words, the :class:`~drawing.Drawn` record of a family member
* ``drawn_pages``     — text pages (:class:`PageLayout`) and app windows
* ``drawn_shapes``    — shapes on white
* ``drawn_photos``    — CIFAR-10 sky photos and scikit-image photos
* ``drawn_documents`` — receipts and invoices
* ``drawn_charts``    — bar and line charts
* ``drawn_codes``     — QR-like codes and EAN-13 barcodes
* ``drawn_chats``     — chat screenshots
* ``family_spots``    — where a family's members differ, and crop boxes that keep those spots

and this module plants the copies (:func:`build`, :func:`variant`).

A whole set, as the dedup benchmark measures it (about 30 s on two cores)::

    planted = build(Path("/tmp/hardset"), cifar=Path("../shared/datasets/cifar10/train"), edits=EDITS)
    originals = [p for p in planted if p.kind == "original"]  # older (mtime) than every copy
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import drawn_charts
import drawn_chats
import drawn_codes
import drawn_documents
from drawing import FONT_FILES, SYLLABLES, Drawn, font, words
from drawn_charts import CHART_COLOURS, MONTHS, REGIONS, chart, chart_members, charts
from drawn_chats import CHAT_STYLES, ChatStyle, Conversation, chat, chats, conversation, message_text, wrap
from drawn_codes import (
    EAN_FIRST,
    EAN_L,
    codes,
    ean13,
    ean_image,
    orientation_clashes,
    orientations,
    qr_image,
    qr_modules,
)
from drawn_documents import (
    INK,
    PAPER,
    RECEIPT_STYLES,
    ReceiptStyle,
    Spot,
    bars,
    digits_apart,
    document_members,
    documents,
    invoice,
    invoice_fields,
    invoice_spots,
    mutated,
    receipt,
    receipt_fields,
    receipt_spots,
)
from drawn_pages import PAGE_LAYOUTS, PageLayout, page, screenshot
from drawn_photos import PHOTO_CROPPED, PHOTO_NAMES, photos, plain_background, sky_photos
from drawn_shapes import OBJECT_COLOURS, objects, shape
from family_spots import Box, contains, placed, spot_boxes

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CATEGORIES", "CHART_COLOURS", "CHAT_STYLES", "EAN_FIRST", "EAN_L", "FAMILY_SIZE", "FONT_FILES", "INK",
    "MONTHS", "OBJECT_COLOURS", "PAGE_LAYOUTS", "PAPER", "PHOTO_CROPPED", "PHOTO_NAMES", "RECEIPT_STYLES",
    "REGIONS", "SYLLABLES", "VARIANTS", "VARIANTS_OF", "ChatStyle", "Conversation", "Drawn", "PageLayout",
    "Planted", "ReceiptStyle", "Spot", "bars", "build", "chart", "chart_members", "charts", "chat", "chats",
    "codes", "conversation", "digits_apart", "document_members", "documents", "ean13", "ean_image", "font",
    "invoice", "invoice_fields", "invoice_spots", "message_text", "mutated", "objects", "orientation_clashes",
    "orientations", "page", "photos", "plain_background", "qr_image", "qr_modules", "receipt",
    "receipt_fields", "receipt_spots", "save", "screenshot", "shape", "sky_photos", "variant",
    "variant_crop_box", "words", "wrap",
]  # fmt: skip

CATEGORIES = ("page", "screenshot", "object", "sky", "document", "chart", "code", "chat", "photo")
VARIANTS = ("jpeg", "resize", "crop", "mirror")
# which variants make sense for which category: a mirrored page or window is not a copy anyone keeps
VARIANTS_OF = {
    "page": ("jpeg", "resize", "crop"),
    "screenshot": ("jpeg", "resize", "crop"),
    "object": ("jpeg", "resize", "crop"),
    "sky": ("jpeg", "resize", "crop", "mirror"),
    "document": ("jpeg", "resize", "crop"),
    "chart": ("jpeg", "resize", "crop"),
    "code": ("jpeg", "resize", "crop", "mirror"),
    "chat": ("jpeg", "resize", "crop"),
    "photo": ("jpeg", "resize", "crop", "mirror"),
}
# members per family of the issue-18 categories (photos: one family per scikit-image photo and its crops)
FAMILY_SIZE = {"document": 7, "chart": 6, "code": 6, "chat": 8}


def variant_crop_box(size: tuple[int, int], rng: random.Random, keep: Box | None = None) -> tuple[Box, Box]:
    """The box the ``crop`` variant cuts from an image of ``size`` (95% of each side, at a random place) so
    that it holds ``keep``, and the box it draws with nothing to keep. ``rng`` advances as without ``keep``;
    a box that would cut into ``keep`` is placed again, among those that hold it (a side grows to ``keep``'s
    when shorter), by a generator seeded with the size, the first box and ``keep``."""
    w, h = round(size[0] * 0.95), round(size[1] * 0.95)
    drawn = placed(w, h, None, size, rng)
    if keep is None or contains(drawn, keep):
        return drawn, drawn
    again = random.Random(f"crop {size} {drawn} {keep}")
    return placed(max(w, keep[2] - keep[0]), max(h, keep[3] - keep[1]), keep, size, again), drawn


def variant(
    img: Image.Image, kind: str, rng: random.Random, *, keep: Box | None = None
) -> tuple[Image.Image, str]:
    """A planted duplicate of ``img`` and the format to save it in (``jpeg`` must be saved as JPEG q70); a
    ``crop`` holds the box ``keep`` (see :func:`variant_crop_box`)."""
    from PIL import Image

    if kind == "jpeg":
        return img, "jpeg"
    if kind == "resize":
        return img.resize((img.width // 2, img.height // 2), Image.Resampling.BICUBIC), "png"
    if kind == "crop":
        return img.crop(variant_crop_box(img.size, rng, keep)[0]), "png"
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
    """A file :func:`build` wrote: its category, ``original`` or a variant kind (or edit name), the
    original's id, the family (one template: ``document-invoice``, ``chart-bar``, ``page-2``, ...), the format
    it was saved in (``png``, ``jpeg``, ``webp``) and, for originals, how it differs from its family's first
    member and its spot group (``drawing.Drawn.spot_group``: originals of one family and one group differ in
    small spots only). A crop's ``box`` is where it was cut from its original (left, top, right, bottom); its
    note says so when the box was moved to keep the spots in which the original differs from its group."""

    path: Path
    category: str
    kind: str
    origin: int
    family: str = ""
    fmt: str = ""
    note: str = ""
    spot_group: str = ""
    box: Box | None = None


@dataclass
class _Original:
    category: str
    family: str
    image: Image.Image
    note: str = ""
    fmt: str = "png"
    path: Path = field(default_factory=Path)
    spot_group: str = ""


def _moved(box: Box, drawn: Box, keep: Box | None) -> str:
    """The note of a crop whose box had to move to keep its original's spots; empty when it did not."""
    if box == drawn or keep is None:
        return ""
    return f"moved to keep the spots {keep} where its original differs from its family: {box}, not {drawn}"


def _spread(ids: Sequence[int], families: Mapping[int, str], rng: random.Random) -> list[int]:
    """``ids`` shuffled, then interleaved family by family, so that consecutive picks come from different
    families (and every original is picked once before any twice)."""
    by_family: dict[str, list[int]] = {}
    for i in rng.sample(list(ids), len(ids)):
        by_family.setdefault(families[i], []).append(i)
    queues = [by_family[f] for f in sorted(by_family)]
    rng.shuffle(queues)
    out = []
    while any(queues):
        out += [q.pop(0) for q in queues if q]
    return out


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
    categories: Sequence[str] = CATEGORIES,
    edits: Sequence[str] | None = None,
    per_edit: int = 2,
    family_size: Mapping[str, int] | None = None,
) -> list[Planted]:
    """Write the hard-negative folder: the distinct originals of each of ``categories``, then planted copies.

    Without ``edits`` the copies are the issue-9 variants (``VARIANTS_OF``) of
    ``variants_per_kind[category]`` originals per variant kind (default 8). With ``edits`` (names from
    ``planted_edits.EDITS``), each edit that ``planted_edits.EDITS_OF[category]`` allows is applied to
    ``per_edit`` originals of each category, from different originals (and families) where there are enough;
    every copy is made from the original's pixels as saved (a JPEG original is decoded first), never from
    another copy. ``family_size`` overrides :data:`FAMILY_SIZE`. Originals are written first, and their mtime
    is then set an hour back, so each is older than every copy. File names are random, so the listing order
    says nothing.

    >>> planted = build(Path("/tmp/set"), categories=["document"], edits=["jpeg30", "rot90"], per_edit=1)
    >>> [p.kind for p in planted][-2:], planted[-1].fmt
    (['jpeg30', 'rot90'], 'png')
    """
    from PIL import Image

    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories {unknown}; pick from {', '.join(CATEGORIES)}")
    if edits is not None:
        import planted_edits

        bad = sorted(set(edits) - set(planted_edits.EDITS))
        if bad:
            raise ValueError(f"unknown edits {bad}; pick from {', '.join(planted_edits.EDITS)}")
    if per_edit < 0:
        raise ValueError(f"per_edit={per_edit}: give how many originals get each edit (0 or more)")
    sizes = FAMILY_SIZE | dict(family_size or {})
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    originals: list[_Original] = []
    # the issue-9 categories draw from one generator in this order, as before (so their files stay the same)
    if "page" in categories:
        for n, layout in enumerate(layouts):
            originals += [_Original("page", f"page-{n}", page(layout, rng)) for _ in range(pages_per_layout)]
    if "screenshot" in categories:
        for layout_id in (0, 1):
            family = ("screenshot-mail", "screenshot-dashboard")[layout_id]
            originals += [
                _Original("screenshot", family, screenshot(layout_id, rng))
                for _ in range(screenshots_per_layout)
            ]
    if "object" in categories:
        originals += [_Original("object", "object", img) for img in objects(rng, n_objects)]
    if "sky" in categories and cifar is not None and n_sky:
        for p in sky_photos(cifar, n_sky, rng):
            with Image.open(p) as opened:
                originals.append(
                    _Original("sky", f"sky-{p.parent.name}", opened.convert("RGB"), p.name, "jpeg")
                )
    # the issue-18 categories each from their own generator: one category's files do not depend on the others
    makers = {
        "document": drawn_documents.draw,
        "chart": drawn_charts.draw,
        "code": drawn_codes.draw,
        "chat": drawn_chats.draw,
    }
    for category, make in makers.items():
        if category in categories:
            members: list[Drawn] = make(random.Random(f"{seed}/{category}"), sizes[category])
            originals += [
                _Original(category, m.family, m.image, m.note, "png", spot_group=m.spot_group)
                for m in members
            ]
    if "photo" in categories:
        made = photos(random.Random(f"{seed}/photo"))
        originals += [_Original("photo", family, img, note, "jpeg") for family, img, note in made]

    n_copies = sum(len(VARIANTS_OF[c]) * (variants_per_kind or {}).get(c, 8) for c in CATEGORIES)
    if edits is not None:
        n_copies = len(edits) * per_edit * len(CATEGORIES)
    names = iter(rng.sample(range(10**7), max(10 * len(originals) + 1000, len(originals) + n_copies + 1)))
    planted: list[Planted] = []
    written = time.time()
    for i, o in enumerate(originals):
        # pages, screenshots, documents, charts, codes, chats as PNG (rendered); photos as JPEG q90, as
        # cameras and phones keep them
        if o.fmt == "jpeg":
            o.path = (folder / f"{next(names):07d}").with_suffix(".jpg")
            o.image.save(o.path, quality=90)
        else:
            o.path = save(o.image, folder / f"{next(names):07d}", "png")
        planted.append(Planted(o.path, o.category, "original", i, o.family, o.fmt, o.note, o.spot_group))
    for o in originals:  # every original an hour older than the first copy: the keeper rule's last tie-break
        os.utime(o.path, (written - 3600, written - 3600))
    # what a crop of each original must keep: where it differs from the others of its family's spot group
    keeps = spot_boxes([(o.family, o.spot_group, o.image) for o in originals])

    if edits is None:
        per = variants_per_kind or {}
        for category in CATEGORIES:
            ids = [i for i, o in enumerate(originals) if o.category == category]
            if not ids:
                continue
            for kind in VARIANTS_OF[category]:
                picks = rng.sample(ids, min(len(ids), per.get(category, 8)))
                for i in picks:
                    o = originals[i]
                    if kind == "crop":
                        box, drawn = variant_crop_box(o.image.size, rng, keeps[i])
                        img, fmt = o.image.crop(box), "png"
                        note = _moved(box, drawn, keeps[i])
                    else:
                        (img, fmt), box, note = variant(o.image, kind, rng), None, ""
                    path = save(img, folder / f"{next(names):07d}", fmt)
                    planted.append(Planted(path, category, kind, i, o.family, fmt, note, box=box))
        return planted

    import planted_edits

    for category in CATEGORIES:
        ids = [i for i, o in enumerate(originals) if o.category == category]
        if not ids:
            continue
        erng = random.Random(f"{seed}/{category}/edits")
        order = _spread(ids, {i: originals[i].family for i in ids}, erng)
        turn = 0
        for edit in edits:
            if edit not in planted_edits.EDITS_OF[category]:
                continue
            for _ in range(per_edit):
                i = order[turn % len(order)]
                turn += 1
                o = originals[i]
                source = o.image
                if o.fmt == "jpeg":  # the copy is made from the file, as whoever copied it saw it
                    with Image.open(o.path) as opened:
                        source = opened.convert("RGB")
                box, note = None, ""
                if edit in planted_edits.CROPS:  # holding the spots where the original differs from its group
                    (img, fmt, options), box, drawn = planted_edits.cropped(edit, source, erng, keep=keeps[i])
                    note = _moved(box, drawn, keeps[i])
                else:
                    img, fmt, options = planted_edits.apply(edit, source, erng, source_fmt=o.fmt)
                path = planted_edits.save(img, folder / f"{next(names):07d}", fmt, options)
                planted.append(Planted(path, category, edit, i, o.family, fmt, note, box=box))
    return planted
