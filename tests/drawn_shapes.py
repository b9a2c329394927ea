"""Simple shapes on white (issue 9): one circle, square or triangle per image, at other places, sizes and
colours, kept apart from every image a crop, mirror, half turn or white frame of another could pass for."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


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


def _near(x: float, y: float, cx: float, cy: float) -> bool:
    """Whether (cx, cy) is within 12% of the side of (x, y) or of a mirror image of it."""
    return min(abs(x - cx), abs(1 - x - cx)) < 0.12 and min(abs(y - cy), abs(1 - y - cy)) < 0.12


def _framed_centre(x: float, y: float, big: float, small: float) -> tuple[float, float] | None:
    """Where a shape of radius ``big`` at (x, y) sits once a uniform white frame has shrunk it to radius
    ``small`` (a frame of f each side scales by 1 / (1 + 2f)); None when that needs a frame over 25%."""
    f = (big / small - 1) / 2
    return ((x + f) / (1 + 2 * f), (y + f) / (1 + 2 * f)) if 0 < f <= 0.25 + 1e-9 else None


def _clash(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """Whether shapes (radius, x, y) ``a`` and ``b`` of one kind and colour could pass for copies: one radius
    and within 12% (or a mirror image), or the larger one framed to the smaller one's size lands there."""
    if a[0] == b[0]:
        return _near(a[1], a[2], b[1], b[2])
    big, small = (a, b) if a[0] > b[0] else (b, a)
    framed = _framed_centre(big[1], big[2], big[0], small[0])
    return framed is not None and _near(*framed, small[1], small[2])


def objects(rng: random.Random, n: int) -> list[Image.Image]:
    """``n`` distinct shape images: shapes repeat with another place (≥ 12% of the side away, also from
    the mirrored places), size or colour, so every image has look-alikes that differ in one of those only.

    A rotated or mirrored copy is a duplicate, so a shape at (x, y) also stands at (1 − x, y) (mirrored),
    (x, 1 − y) (mirrored and rotated 180°) and (1 − x, 1 − y) (rotated 180°); turns by 90° make the 800×600
    image 600×800, which matches none. Triangles point up, so their vertical mirror points down and matches
    no original; they are kept apart from it all the same (the rule stays one rule for every shape). A white
    frame of up to 25% a side is a duplicate too, and shrinks a shape of radius 0.12 to one of 0.08 (at most
    a frame of 25%): a shape of 0.08 stays as far from where such a frame puts one of 0.12."""
    placed: list[tuple[str, tuple[int, int, int], float, float, float]] = []
    out = []
    while len(out) < n:
        kind = rng.choice(("circle", "square", "triangle"))
        colour = rng.choice(OBJECT_COLOURS[:3])  # few colours: many same-colour look-alikes
        radius = rng.choice((0.05, 0.08, 0.12))
        cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.75)
        # distinct also under what counts as a duplicate: a shift of < 12% (a crop keeping ≥ 90% of a side),
        # a mirror image or half turn (the shapes are symmetric: their images sit at 1 - x and/or 1 - y), or
        # a white frame around the larger of the two
        if any(k == kind and c == colour and _clash((r, x, y), (radius, cx, cy)) for k, c, r, x, y in placed):
            continue
        placed.append((kind, colour, radius, cx, cy))
        out.append(shape(rng, kind, colour, (cx, cy), radius))
    return out
