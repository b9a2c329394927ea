"""Where the members of a look-alike family differ, and crop boxes that keep those spots (issue 18).

Members of one family in one spot group (``drawing.Drawn.spot_group``: receipts and invoices that differ in a
few digits, charts in one bar or point, chats in the clock or one message, barcodes in the last digits) are
pixel-identical but for a few small spots. A crop that cut all of them away would be a crop of two members
at once, and no duplicate finder could say which one it was made from, so the scorer would count a correct
grouping as a false pair. Every planted crop of such a member therefore keeps every spot: its box contains
the member's :func:`spot_boxes` box, the bounding box of all pixels in which it differs from any other
member of its group. :func:`shifted` and :func:`placed` make such boxes.

Boxes are (left, top, right, bottom) in pixels, right and bottom exclusive, as ``Image.crop`` takes them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

Box = tuple[int, int, int, int]


def contains(outer: Box, inner: Box) -> bool:
    """Whether box ``outer`` holds all of box ``inner``."""
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def bounding(boxes: Iterable[Box | None]) -> Box | None:
    """The least box holding every box of ``boxes`` (None among them is ignored); None when there is none."""
    found = [b for b in boxes if b is not None]
    if not found:
        return None
    return (
        min(b[0] for b in found),
        min(b[1] for b in found),
        max(b[2] for b in found),
        max(b[3] for b in found),
    )


def differing_box(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> Box | None:
    """The bounding box of the pixels in which images ``a`` and ``b`` (PIL images or H×W×C arrays) differ;
    None when they are equal or of different sizes (then no crop of one is the same crop of the other)."""
    import numpy as np

    a, b = (np.asarray(x.convert("RGB")) if hasattr(x, "convert") else x for x in (a, b))
    if a.shape != b.shape:
        return None
    differ = (a != b).reshape(a.shape[0], a.shape[1], -1).any(-1)
    rows, columns = np.flatnonzero(differ.any(1)), np.flatnonzero(differ.any(0))
    if not len(rows):
        return None
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def spot_boxes(members: Sequence[tuple[str, str, Image.Image]]) -> list[Box | None]:
    """For each member, given as (family, spot group, image): the box that every crop of it must keep, the
    bounding box of all pixels in which it differs from the other members of its family and spot group; None
    for a member of no group (``""``), or one that no member of its group matches in size."""
    import numpy as np

    groups: dict[tuple[str, str], list[int]] = {}
    for i, (family, group, _) in enumerate(members):
        if group:
            groups.setdefault((family, group), []).append(i)
    found: list[list[Box | None]] = [[] for _ in members]
    for ids in groups.values():
        arrays = {i: np.asarray(members[i][2].convert("RGB")) for i in ids}
        for k, i in enumerate(ids):
            for j in ids[:k]:
                box = differing_box(arrays[i], arrays[j])
                found[i].append(box)
                found[j].append(box)
    return [bounding(boxes) for boxes in found]


def shifted(box: Box, keep: Box, size: tuple[int, int]) -> Box:
    """``box`` moved by the least that makes it hold ``keep``, inside an image of ``size``; a side of ``box``
    shorter than ``keep``'s grows to it (the crop then cuts nothing beyond the spots on that axis)."""
    out = []
    for axis in (0, 1):
        length = max(box[axis + 2] - box[axis], keep[axis + 2] - keep[axis])
        first = max(0, keep[axis + 2] - length)  # the starts whose box holds ``keep`` and fits the image
        last = min(keep[axis], size[axis] - length)
        out.append(min(max(box[axis], first), last))
    x, y = out
    return x, y, x + max(box[2] - box[0], keep[2] - keep[0]), y + max(box[3] - box[1], keep[3] - keep[1])


def placed(width: int, height: int, keep: Box | None, size: tuple[int, int], rng: random.Random) -> Box:
    """A ``width``×``height`` box at a random place inside an image of ``size``, among the places where it
    holds ``keep`` (anywhere when ``keep`` is None: then ``rng`` draws ``randint(0, w - width)`` and
    ``randint(0, h - height)``, as the crops always did). The box must be at least as large as ``keep``."""
    if keep is None:
        keep = (size[0], size[1], 0, 0)  # the bounds below then are 0 and size - length
    if keep[2] - keep[0] > width or keep[3] - keep[1] > height:
        raise ValueError(f"a {width}×{height} box cannot hold {keep}")
    x = rng.randint(max(0, keep[2] - width), min(keep[0], size[0] - width))
    y = rng.randint(max(0, keep[3] - height), min(keep[1], size[1] - height))
    return x, y, x + width, y + height
