"""Alignments read from what stands on a plain background: a shape or product on white, a chart or a code.

A copy cropped from such a picture, or framed in its background's own colour (a white frame around a
product on white), has no border to trim, and too little structure for the 12×12 crop search to place it:
a small shape correlates at many alignments, and the crop boxes keep sides of at least 75%. But what
stands on the background — the **subject** (:func:`find_subject`) — moves with the picture: the scale and
shift that carry one image's subject onto the other's are the crop or frame between them.
:func:`alignments` lists the alignments two subjects imply, as the box of the cut side that the fine check
starts from; the coarse and fine checks decide, as for every other alignment.

A subject is known by its box (the plain bands trimmed from each side, however wide) and by the centre and
spread (standard deviation) of its ink — how far each pixel of the box is from the background's colour.
The ink's centre and spread are exact to a fraction of a pixel where the box's edges are not (the tip of a
triangle fades over a pixel or two of a 256-px thumbnail: 5% of a small shape's height). Two subjects
whose spreads agree on one scale give one alignment, their centres on each other; where the boxes' sides
disagree instead, a cut went through one subject (a code cut at its bottom row): the scale of the side
that agrees, and each end of the other side in turn.

>>> import numpy as np
>>> img = np.full((600, 800, 3), 255, np.uint8)
>>> img[240:360, 480:600] = (200, 30, 30)                  # a square on white
>>> framed = np.full((700, 900, 3), 255, np.uint8)
>>> framed[50:650, 50:850] = img                            # in a white frame of 50 px
>>> a, b = find_subject(img), find_subject(framed)
>>> [(cut_a, [round(v, 3) for v in box]) for cut_a, box in alignments(a, (800, 600), b, (900, 700))]
[(False, [0.056, 0.071, 0.944, 0.929])]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lookalike.dedup.borders import WHOLE, Box, content_box
from lookalike.dedup.coarse import MIN_AREA, MIN_SIDE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lookalike.dedup.orientation import Orientation

#: A subject narrower or lower than this (fraction of the side) is a speck, not a picture to align on.
LEAST_SUBJECT = 0.02
#: Two scales agree when their ratio is this close to one (log ratio).
SCALE_AGREE = 0.04
#: The region one image shows of the other may reach this far past its edges (fraction; clipped).
OVERHANG = 0.02
#: A box the subjects imply keeping more than this of every side is the whole view, compared already.
NEAR_WHOLE = 0.99
#: A frame (:data:`LEAST_SIDE`) is centred: its two sides along x, and its top and bottom, differ by this
#: much at most (fraction of the framed image's side).
FRAME_SKEW = 0.02
#: A frame of the background keeps at least this of each side of the framed image (a border of up to a
#: quarter of each side), where all of the subject shows in both; anything deeper, or off centre, must keep
#: what a crop keeps (:data:`~lookalike.dedup.coarse.MIN_SIDE`, :data:`~lookalike.dedup.coarse.MIN_AREA`):
#: a shape scaled by a half and moved is another picture, not a copy.
LEAST_SIDE = 0.5
#: Two alignments closer than this (fraction, every edge) are one.
SAME_BOX = 0.005


@dataclass(frozen=True)
class Subject:
    """What stands on an image's plain background: its ``box``, and its ink's ``centre`` and ``spread``
    (standard deviation along x and y), all as fractions of the image's width and height."""

    box: Box
    centre: tuple[float, float]
    spread: tuple[float, float]

    def turned(self, o: Orientation) -> Subject:
        """The subject of the image put in orientation ``o``."""
        cx, cy, _, _ = o.apply_box((*self.centre, *self.centre))
        spread = self.spread[::-1] if o.swaps_sides else self.spread
        return Subject(o.apply_box(self.box), (cx, cy), (spread[0], spread[1]))


def find_subject(rgb: npt.NDArray[np.uint8]) -> Subject | None:
    """The subject of an image ``[height, width, 3]`` uint8 (e.g. reduced to 256 px): the box
    :func:`~lookalike.dedup.borders.content_box` leaves when it trims one band from each side, however wide,
    up to the subject's first line and first pixel (the tip of a small shape is a few pixels of a line; a
    second layer would be the shape's own flat edge), and its ink's moments, the background's colour read
    just outside the box.
    ``None`` when no side is a plain band (a photo), or what is left is a speck (:data:`LEAST_SUBJECT`)."""
    import numpy as np

    box = content_box(rgb, max_trim=1.0, blend=0, share=1.0, layers=1)
    if box == WHOLE or min(box[2] - box[0], box[3] - box[1]) < LEAST_SUBJECT:
        return None
    h, w = rgb.shape[:2]
    x0, y0 = round(box[0] * w), round(box[1] * h)
    x1, y1 = round(box[2] * w), round(box[3] * h)
    # the background: the pixels of the lines just outside the box, on the sides that were trimmed
    ring = [rgb[y, x0:x1] for y in (y0 - 1, y1) if 0 <= y < h]
    ring += [rgb[y0:y1, x] for x in (x0 - 1, x1) if 0 <= x < w]
    background = np.median(np.concatenate(ring), axis=0)
    ink = np.abs(rgb[y0:y1, x0:x1].astype(np.float32) - background).max(-1)
    total = float(ink.sum())
    if total <= 0:
        return None
    xs, ys = (np.arange(x0, x1) + 0.5) / w, (np.arange(y0, y1) + 0.5) / h
    px, py = ink.sum(0) / total, ink.sum(1) / total
    cx, cy = float(px @ xs), float(py @ ys)
    sx, sy = math.sqrt(float(px @ (xs - cx) ** 2)), math.sqrt(float(py @ (ys - cy) ** 2))
    return Subject(box, (cx, cy), (sx, sy))


def alignments(
    a: Subject, size_a: tuple[int, int], b: Subject, size_b: tuple[int, int]
) -> list[tuple[bool, Box]]:
    """The alignments of images ``a`` and ``b`` (``b`` already in the orientation compared, ``size_b`` its
    size turned) that carry subject ``b`` onto ``a``: ``(cut_a, box)`` — ``a`` cut to ``box`` shows all of
    ``b`` (``cut_a``), or ``b`` cut to ``box`` shows all of ``a``. Boxes are fractions of the cut image;
    none near the whole view (:data:`NEAR_WHOLE`), none that would need both sides cut."""
    wa, ha = size_a
    wb, hb = size_b
    ax0, ay0, ax1, ay1 = a.box[0] * wa, a.box[1] * ha, a.box[2] * wa, a.box[3] * ha
    bx0, by0, bx1, by1 = b.box[0] * wb, b.box[1] * hb, b.box[2] * wb, b.box[3] * hb
    # (scale a/b in pixels, a point along x in a and its match in b, the same along y, whether all of the
    # subject shows in both)
    poses: list[tuple[float, tuple[float, float], tuple[float, float], bool]] = []
    mx, my = _ratio(a.spread[0] * wa, b.spread[0] * wb), _ratio(a.spread[1] * ha, b.spread[1] * hb)
    if _agree(mx, my):
        centre_x, centre_y = (a.centre[0] * wa, b.centre[0] * wb), (a.centre[1] * ha, b.centre[1] * hb)
        poses.append((math.sqrt(mx * my), centre_x, centre_y, True))
    sx, sy = _ratio(ax1 - ax0, bx1 - bx0), _ratio(ay1 - ay0, by1 - by0)
    if not _agree(sx, sy):
        mid_x, mid_y = ((ax0 + ax1) / 2, (bx0 + bx1) / 2), ((ay0 + ay1) / 2, (by0 + by1) / 2)
        poses += [(sx, mid_x, end, False) for end in ((ay0, by0), (ay1, by1))]
        poses += [(sy, end, mid_y, False) for end in ((ax0, bx0), (ax1, bx1))]
    out: list[tuple[bool, Box]] = []
    for s, (pa_x, pb_x), (pa_y, pb_y), whole_subject in poses:
        tx, ty = pa_x - s * pb_x, pa_y - s * pb_y  # a = s·b + t, in pixels
        region = (tx / wa, ty / ha, (tx + s * wb) / wa, (ty + s * hb) / ha)  # b's whole image in a
        if _inside(region):
            cut_a, box = True, _clipped(region)
        else:
            back = (
                -tx / s / wb,
                -ty / s / hb,
                (wa - tx) / s / wb,
                (ha - ty) / s / hb,
            )  # a's whole image in b
            if not _inside(back):
                continue
            cut_a, box = False, _clipped(back)
        w, h = box[2] - box[0], box[3] - box[1]
        if min(w, h) > NEAR_WHOLE:
            continue
        if not (_cropped(box) or (whole_subject and _framed(box))):
            continue
        if not any(
            c == cut_a and max(abs(u - v) for u, v in zip(o, box, strict=True)) < SAME_BOX for c, o in out
        ):
            out.append((cut_a, box))
    return out


def _cropped(box: Box) -> bool:
    """Whether ``box`` keeps what a crop keeps."""
    w, h = box[2] - box[0], box[3] - box[1]
    return min(w, h) >= MIN_SIDE and w * h >= MIN_AREA


def _framed(box: Box) -> bool:
    """Whether ``box`` is where a centred frame of up to a quarter of each side puts the framed picture."""
    centred = abs(box[0] - (1 - box[2])) <= FRAME_SKEW and abs(box[1] - (1 - box[3])) <= FRAME_SKEW
    return centred and min(box[2] - box[0], box[3] - box[1]) >= LEAST_SIDE


def _ratio(x: float, y: float) -> float:
    return max(x, 1e-9) / max(y, 1e-9)


def _agree(x: float, y: float) -> bool:
    return abs(math.log(x / y)) <= SCALE_AGREE


def _inside(box: Box) -> bool:
    return box[0] >= -OVERHANG and box[1] >= -OVERHANG and box[2] <= 1 + OVERHANG and box[3] <= 1 + OVERHANG


def _clipped(box: Box) -> Box:
    return (max(0.0, box[0]), max(0.0, box[1]), min(1.0, box[2]), min(1.0, box[3]))
