"""What every drawn family of look-alikes shares: fonts, pseudo-words, and the :class:`Drawn` record.

Fonts are the TrueType files that matplotlib ships (DejaVu, STIX), so no download and no system font is
needed. Used by ``drawn_pages``, ``drawn_documents``, ``drawn_chats``, ``drawn_codes`` and ``hard_negatives``.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf")
SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + ["th", "st", "an", "er", "on", "in"]


@functools.lru_cache(maxsize=64)
def font(name: str, size: int) -> Any:
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
class Drawn:
    """One member of a family of look-alikes: its family (one template), the image, how it differs from the
    family's first member, and its spot group.

    Members of one family that share a non-empty ``spot_group`` were drawn from one another with small changes
    only (a digit, one bar or point, the clock, one message): they differ in a few small spots and are
    pixel-identical elsewhere. Every planted crop of such a member keeps all the spots in which it differs
    from the others of its group (``family_spots.spot_boxes``), so it is never also a crop of one of them.
    Members without a group differ from the rest of their family all over (other words, other data)."""

    family: str
    image: Image.Image
    note: str
    spot_group: str = ""

    @property
    def triple(self) -> tuple[str, Image.Image, str]:
        """(family, image, note), as the family generators have always returned them."""
        return self.family, self.image, self.note
