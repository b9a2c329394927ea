"""Uniform borders: the letterbox, pillarbox or frame that a copy may have gained around its picture.

A photo letterboxed into a 16:9 frame, a screenshot pasted on a white canvas, a scan with a dark margin:
the picture is the same, but its thumbnail is not — the frame shrinks it and adds bands. So every image
also gets a **content box**: its bands of one uniform colour (any colour) trimmed from each side, layer
after layer (a black frame around a page's white margin goes first, then the margin), as long as at most
:data:`MAX_TRIM` of that side goes in all. A band wider than that is part of the picture (a shape on a
white background, a sky), not a frame, and stays.

Copies are then compared content box to content box as well as whole to whole: a framed copy matches its
original whichever of the two also had a plain margin of its own. NumPy only.

>>> import numpy as np
>>> img = np.zeros((100, 100, 3), np.uint8)
>>> img[10:90, 5:95] = 200
>>> img[40:60, 40:60] = 30
>>> content_box(img)
(0.06, 0.11, 0.94, 0.89)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: At most this fraction of each side is trimmed as border.
MAX_TRIM = 0.25
#: A line of pixels is uniform when this share of it lies within :data:`TOLERANCE` of the band's colour.
UNIFORM_SHARE = 0.98
#: Largest difference (0–255, any channel) from the band's colour for a pixel of a uniform line (JPEG
#: ringing and scanner noise on a flat band stay within it).
TOLERANCE = 14
#: A content box that keeps more than this of every side is the whole image.
WHOLE_KEEP = 0.99
#: Lines a trim leaves at least, however blank the image.
LEAST_LEFT = 4
Box = tuple[float, float, float, float]
WHOLE: Box = (0.0, 0.0, 1.0, 1.0)


def _lines(
    a: npt.NDArray[np.int16], share: float = UNIFORM_SHARE
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """For each line (row) of ``a`` ``[lines, pixels, 3]``: whether it is uniform — ``share`` of its pixels
    within :data:`TOLERANCE` of its mean colour (the few others move the mean by little) — and that
    colour."""
    import numpy as np

    colour = a.mean(1)
    uniform = (np.abs(a - colour[:, None]).max(-1) <= TOLERANCE).mean(1) >= share
    return uniform, colour


def _run(uniform: npt.NDArray[np.bool_], colour: npt.NDArray[np.float64]) -> int:
    """How many leading lines are uniform in the first line's colour: one band."""
    import numpy as np

    same = uniform & (np.abs(colour - colour[0]).max(-1) <= TOLERANCE)
    return int(same.argmin()) if not same.all() else len(same)


def content_box(
    rgb: npt.NDArray[np.uint8],
    max_trim: float = MAX_TRIM,
    *,
    blend: int = 1,
    share: float = UNIFORM_SHARE,
    layers: int = 8,
) -> Box:
    """The box ``(x0, y0, x1, y1)`` (fractions of the width and height) left when the uniform bands of each
    side are trimmed (see the module docstring), at most ``max_trim`` of each side; :data:`WHOLE` when no
    side loses more than 1%. ``rgb`` is ``[height, width, 3]`` uint8, e.g. the image reduced to 256 px.

    Bands are trimmed a layer at a time on all four sides together, each layer's lines spanning only what
    the layers before left, so that a frame's corners do not hide the margin inside it; each trimmed layer
    takes ``blend`` more lines, the blend where two bands (or a band and the picture) meet. A line is part of
    a band when ``share`` of its pixels are of the band's colour; at most ``layers`` layers go.
    """
    import numpy as np

    h, w = rgb.shape[:2]
    if min(h, w) < 8:
        return WHOLE
    px = rgb.astype(np.int16)
    if not (_lines(px[[0, -1]], share)[0].any() or _lines(px[:, [0, -1]].transpose(1, 0, 2), share)[0].any()):
        return WHOLE  # most pictures: no side is one colour, no band to look for
    limit = (int(w * max_trim), int(h * max_trim), int(w * max_trim), int(h * max_trim))
    cut = [0, 0, 0, 0]  # left, top, right, bottom in pixels
    for _ in range(layers):  # layer after layer; frames rarely have more than two
        inner = px[cut[1] : h - cut[3], cut[0] : w - cut[2]]
        rows, cols = _lines(inner, share), _lines(inner.transpose(1, 0, 2), share)
        grew = False
        for s, (uniform, colour) in enumerate((cols, rows, cols, rows)):
            span = (w - cut[0] - cut[2]) if s % 2 == 0 else (h - cut[1] - cut[3])
            room = min(limit[s] - cut[s], span - LEAST_LEFT)  # (a blank image keeps a few lines)
            if room <= 0:
                continue
            if s >= 2:  # right and bottom: from the far edge
                uniform, colour = uniform[::-1], colour[::-1]
            depth = _run(uniform[: room + 1], colour[: room + 1])
            if 0 < depth <= room:  # a layer running past the limit is background, not a frame
                cut[s] += min(depth + blend, room)
                grew = True
        if not grew:
            break
    if max(cut[0] / w, cut[1] / h, cut[2] / w, cut[3] / h) < 1 - WHOLE_KEEP:
        return WHOLE
    return (cut[0] / w, cut[1] / h, 1 - cut[2] / w, 1 - cut[3] / h)


def box_area(box: Box) -> float:
    """The share of the image inside ``box``."""
    return (box[2] - box[0]) * (box[3] - box[1])
