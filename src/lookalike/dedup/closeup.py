"""The close-up: a pair that passed the fine check, compared again at the files' own resolution.

At 256 px a receipt's digits are 4 px high: two receipts of one shop whose totals differ in one digit, two
invoices whose quantities differ, two chat screenshots whose clocks differ are the same picture there.
So a pair that passes the fine check (:mod:`~lookalike.dedup.fine`) is looked at once more, both files
read again at their own resolution — the smaller of the two, up to :data:`SIDE` px on the long side —
at the fine check's alignment (refined once more, each edge of the box and the turn, on a grid half as
fine and then on the full one, while that alone does not make them alike), the tones matched
(:mod:`~lookalike.dedup.photometric`), and the two compared pixel by pixel:

* both are softened (a [1, 2, 1] blur: what is left of resampling and noise);
* each pixel's difference is the smallest against the other side's pixel or one of its eight neighbours
  (a misalignment of a pixel costs nothing, a stroke added or removed does);
* the **local difference** is the largest mean of that over 3×3 windows, leaving out the wedges of fill
  that turning a scan brings in at its edges.

A copy — re-encoded, resized, brightened, scanned — differs a little everywhere; a changed digit differs
a lot in one place. NumPy and Pillow only.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from lookalike.dedup import fine
from lookalike.dedup.photometric import match_clipping, match_tone

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np
    import numpy.typing as npt
    from PIL import Image

#: Long side (px) of the close-up's grid at most.
SIDE = 1536
#: The close-up looks when the files allow a grid this much larger than the fine check's.
NEEDED = 1.05
#: Side (px) of the windows whose mean difference counts.
WINDOW = 3
#: Pixels next to the fill that a turn brings in are left out too.
FILL_MARGIN = 2


def needed(match: fine.FineMatch, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether a close-up can see more than the fine check did: the files (sizes ``a`` and ``b``, as
    stored) allow a grid larger than the one the fine check used."""
    scale = min(max(a), max(b)) / max(1, max(match.size))
    return scale > NEEDED


def _tolerant(u: npt.NDArray[np.float32], v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each pixel's smallest absolute difference against ``v`` at the same place or one pixel away."""
    import numpy as np

    h, w = u.shape
    pv = np.pad(v, 1, mode="edge")
    best: npt.NDArray[np.float32] = np.abs(u - v)
    for dy in range(3):
        for dx in range(3):
            if dy != 1 or dx != 1:
                np.minimum(best, np.abs(u - pv[dy : dy + h, dx : dx + w]), out=best)
    return best


def _window_means(a: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.float32]:
    """The mean of every k×k window (running sums along each axis)."""
    import numpy as np

    down = np.cumsum(a, axis=0, dtype=np.float32)
    rows = np.concatenate([down[k - 1 : k], down[k:] - down[:-k]])
    across = np.cumsum(rows, axis=1, dtype=np.float32)
    sums = np.concatenate([across[:, k - 1 : k], across[:, k:] - across[:, :-k]], axis=1)
    out: npt.NDArray[np.float32] = sums / np.float32(k * k)
    return out


def local_difference(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_] | None = None
) -> float:
    """The local difference of two aligned grey images of one shape (0–1; see the module docstring),
    ``y`` tone-matched to ``x`` first, with and without matched clipping (the smaller counts); only
    windows inside ``valid`` (default: everywhere) count."""
    import numpy as np

    best = 1.0
    clipped = match_clipping(x, y)
    pairs = [(x, y)] + ([clipped] if clipped[0] is not x or clipped[1] is not y else [])
    for xx, yy in pairs:
        toned = match_tone(xx.reshape(1, 1, -1), yy.reshape(1, 1, -1)).reshape(xx.shape)
        xa, ya = fine._soften(xx), fine._soften(toned)
        d = np.maximum(_tolerant(xa, ya), _tolerant(ya, xa))
        k = min(WINDOW, *d.shape)
        means = _window_means(d, k)
        if valid is not None:
            inside = _window_means(valid.astype(np.float32), k) >= 1.0 - 1e-6
            means = np.where(inside, means, 0.0)
        best = min(best, float(means.max()))
    return best


def _valid(img: Image.Image, pose: fine._Pose, size: tuple[int, int]) -> npt.NDArray[np.bool_] | None:
    """Where a turned sample of ``img`` shows the picture, not the fill around it (``None``: everywhere),
    shrunk by :data:`FILL_MARGIN` px."""
    import numpy as np
    from PIL import Image

    if not pose.angle:
        return None
    ones = Image.new("L", img.size, 255)
    px = (
        pose.box[0] * img.width,
        pose.box[1] * img.height,
        pose.box[2] * img.width,
        pose.box[3] * img.height,
    )
    centre = ((px[0] + px[2]) / 2, (px[1] + px[3]) / 2)
    turned = ones.rotate(pose.angle, Image.Resampling.BILINEAR, center=centre, fillcolor=0)
    mask = np.asarray(turned.resize(size, Image.Resampling.BILINEAR, box=px, reducing_gap=None)) >= 250
    for _ in range(FILL_MARGIN):  # erode: the blend next to the fill is not the picture either
        mask[1:] &= mask[:-1]
        mask[:-1] &= mask[1:]
        mask[:, 1:] &= mask[:, :-1]
        mask[:, :-1] &= mask[:, 1:]
    return mask


def look(a: Image.Image, b: Image.Image, match: fine.FineMatch, limit: float) -> fine.FineMatch:
    """``match`` (the fine check's, for grey images ``a`` and ``b`` as stored, ``b`` unturned, read at up
    to :data:`SIDE` px) with its ``local`` difference at the full grid: first where the fine check left
    the alignment, and only when that exceeds ``limit`` again after refining it on a grid half as fine
    (the fine check's alignment, good to a pixel at 256 px, may be off by several at 1,536)."""
    bb = match.orientation.apply_image(b)
    view_b = match.orientation.apply_box(match.view_b)
    x, y = (a, bb) if match.cropped_a else (bb, a)
    xframe, ybox = (match.view_a, view_b) if match.cropped_a else (view_b, match.view_a)
    home = fine._inside(xframe, match.box)
    pose = fine._Pose(home, match.angle)
    size = fine._grid(x, pose.box, y, ybox, SIDE)
    ys = fine._sample(y, ybox, size)
    local = local_difference(fine._sample(x, pose.box, size, pose.angle), ys, _valid(x, pose, size))
    side = fine.MIN_SIDE_FLIPPED if match.orientation.mirror else fine.MIN_SIDE
    # while not alike: the alignment refined on a grid half as fine, then on the full one (edges and turn)
    for cap, steps in ((max(64, max(size) // 2), [1.0, 0.5]), (max(size), [0.5, 0.25])):
        if local <= limit:
            break
        pose, _ = fine.refine(x, y, pose, ybox, cap, steps, home=home, frame=xframe, min_side=side)
        size = fine._grid(x, pose.box, y, ybox, SIDE)
        ys = fine._sample(y, ybox, size)
        xs = fine._sample(x, pose.box, size, pose.angle)
        local = min(local, local_difference(xs, ys, _valid(x, pose, size)))
    return replace(
        match, box=fine._relative(xframe, pose.box), angle=pose.angle, local=local, local_size=size
    )


# ----------------------------------------------------------------------------------------------------------
# Which of two distinct pictures a copy shows


#: Where two rendered candidates differ by more than this (0–1, softened, a pixel's shift forgiven), the
#: copy's pixels say which one it shows.
APART = 0.12
#: Fewer such pixels than this: the candidates look the same at the copy's resolution.
APART_PIXELS = 4
#: Where fewer than :data:`APART_PIXELS` differ by :data:`APART` (a copy so small that a changed digit is
#: two or three pixels: a receipt at a quarter of its size), the pixels where they differ by this much.
APART_SMALL = 0.08
#: The winner's mean difference there must be under this share of the loser's.
CLEAR_WIN = 0.5
#: Where no few pixels decide, the mean difference over the whole copy does, when the winner's is also this
#: much lower (0–1; about a grey level and a half).
MIN_GAP = 0.005


def in_frame(
    j: Image.Image, k: Image.Image, match: fine.FineMatch, j_is_a: bool
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]] | None:
    """``k`` drawn onto ``j``'s pixel grid by ``match`` (the fine match of the pair, ``j`` its ``a`` when
    ``j_is_a``) — grey floats 0–1 in ``j``'s shape — and where it covers ``j``. A small turn (a scan) is
    drawn both ways round and the :func:`closest` drawing kept (which side the fine check turned decides
    the sign); ``None`` when the part shown is under 2 px."""
    region_a, region_b = match.regions()
    to_j = match.orientation if j_is_a else match.orientation.inverse  # turns k into j's orientation
    rj, rk = (region_a, region_b) if j_is_a else (region_b, region_a)
    turned = to_j.apply_image(k)
    rk = to_j.apply_box(rk)
    # whole pixels of j inside its region, and exactly the part of k they show
    x0, y0 = math.ceil(rj[0] * j.width - 1e-6), math.ceil(rj[1] * j.height - 1e-6)
    x1, y1 = math.floor(rj[2] * j.width + 1e-6), math.floor(rj[3] * j.height + 1e-6)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None

    def to_k(v: float, lo: float, hi: float, klo: float, khi: float, side: int) -> float:
        return min(max((klo + (v - lo) * (khi - klo) / max(hi - lo, 1e-9)) * side, 0.0), side)

    px = (
        to_k(x0 / j.width, rj[0], rj[2], rk[0], rk[2], turned.width),
        to_k(y0 / j.height, rj[1], rj[3], rk[1], rk[3], turned.height),
        to_k(x1 / j.width, rj[0], rj[2], rk[0], rk[2], turned.width),
        to_k(y1 / j.height, rj[1], rj[3], rk[1], rk[3], turned.height),
    )
    angles = (match.angle, -match.angle) if match.angle else (0.0,)
    return closest(j, [_drawn(turned, px, angle, j.size, (x0, y0, x1, y1)) for angle in angles])


def closest(
    j: Image.Image, drawings: Iterable[tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]] | None]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]] | None:
    """Of several ``drawings`` of one picture onto ``j``'s grid (each with where it covers ``j``; ``None``
    for one that could not be drawn), the one closest to ``j`` (mean difference where it covers it)."""
    import numpy as np

    x = np.asarray(j, dtype=np.float32) / np.float32(255)
    best: tuple[float, tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]] | None = None
    for d in drawings:
        if d is None or d[0].shape != x.shape or not d[1].any():
            continue
        err = float(np.abs(x[d[1]] - d[0][d[1]]).mean())
        if best is None or err < best[0]:
            best = (err, d)
    return None if best is None else best[1]


def _drawn(
    img: Image.Image,
    px: tuple[float, float, float, float],
    angle: float,
    size: tuple[int, int],
    at: tuple[int, int, int, int],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """The part ``px`` of ``img``, turned by ``angle`` degrees about its centre, drawn at ``at`` on a grid
    of ``size``, and where it covers that grid (not the fill a turn brings in, nor the blended edge)."""
    import numpy as np
    from PIL import Image

    x0, y0, x1, y1 = at
    mask = None
    if angle:
        centre = ((px[0] + px[2]) / 2, (px[1] + px[3]) / 2)
        mask = Image.new("L", img.size, 255).rotate(angle, Image.Resampling.BILINEAR, center=centre)
        img = img.rotate(angle, Image.Resampling.BILINEAR, center=centre, fillcolor=fine._edge_grey(img))
    drawn = img.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=px, reducing_gap=None)
    out = np.zeros((size[1], size[0]), np.float32)
    out[y0:y1, x0:x1] = np.asarray(drawn, dtype=np.float32) / np.float32(255)
    covered = np.zeros(out.shape, bool)
    covered[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = True  # (the edge rows blend with what lies outside)
    if mask is not None:
        shown = mask.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=px, reducing_gap=None)
        covered[y0:y1, x0:x1] &= np.asarray(shown) >= 250
    return out, covered


def which_shows(
    j: Image.Image, drawn: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]]
) -> int | None:
    """Which of two distinct pictures, ``drawn`` onto the copy ``j``'s grid (:func:`in_frame`), ``j``
    shows: where the two differ by more than :data:`APART` (each tone-matched to ``j``; where too few
    pixels do, by more than :data:`APART_SMALL`), the one ``j`` is clearly closer to — its mean
    difference under :data:`CLEAR_WIN` of the other's; failing that, the one clearly closer over all of
    ``j`` (also by :data:`MIN_GAP`: an exact copy of one of two frames of a
    burst); ``None`` when ``j`` is no closer to either (a copy too small to tell two receipts apart).
    Pixel to pixel, neither softened nor forgiving a shift: at a small copy's resolution a changed digit
    is a few pixels; each candidate is first moved by the whole-pixel shift (up to :data:`SNAP` px) that
    brings it closest to ``j`` (the alignment behind :func:`in_frame` is good to a pixel or two)."""
    import numpy as np

    x = np.asarray(j, dtype=np.float32) / np.float32(255)
    (u, cu), (v, cv) = (_snapped(x, d, c) for d, c in drawn)
    both = cu & cv
    if x.shape != u.shape or both.sum() < APART_PIXELS:
        return None
    xs = x[both].reshape(1, 1, -1)
    us = match_tone(xs, u[both].reshape(1, 1, -1)).reshape(-1)
    vs = match_tone(xs, v[both].reshape(1, 1, -1)).reshape(-1)
    du, dv = np.abs(xs.reshape(-1) - us), np.abs(xs.reshape(-1) - vs)
    apart = np.abs(us - vs) > APART
    if apart.sum() < APART_PIXELS:
        apart = np.abs(us - vs) > APART_SMALL
    if apart.sum() >= APART_PIXELS:
        closer = _clearly_closer(float(du[apart].mean()), float(dv[apart].mean()))
        if closer is not None:
            return closer
    # no few pixels decide: all of them (one picture's copy, the other a shifted or recoloured frame)
    return _clearly_closer(float(du.mean()), float(dv.mean()), MIN_GAP)


#: Whole-pixel shifts (each way) tried to bring a drawn candidate onto the copy.
SNAP = 2


def _snapped(
    x: npt.NDArray[np.float32], drawn: npt.NDArray[np.float32], covered: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """``drawn`` (and where it ``covered`` the copy ``x``) moved by the whole-pixel shift of at most
    :data:`SNAP` px that makes it closest to ``x`` (mean difference where covered)."""
    import numpy as np

    if drawn.shape != x.shape or min(x.shape) <= 4 * SNAP:
        return drawn, covered
    best = (float("inf"), drawn, covered)
    for dy in range(-SNAP, SNAP + 1):
        for dx in range(-SNAP, SNAP + 1):
            moved = np.roll(drawn, (dy, dx), axis=(0, 1))
            inside = np.roll(covered, (dy, dx), axis=(0, 1))
            inside[: max(dy, 0)] = inside[inside.shape[0] + min(dy, 0) :] = False
            inside[:, : max(dx, 0)] = inside[:, inside.shape[1] + min(dx, 0) :] = False
            if inside.sum() < APART_PIXELS:
                continue
            d = float(np.abs(x[inside] - moved[inside]).mean())
            if d < best[0]:
                best = (d, moved, inside)
    return best[1], best[2]


def _clearly_closer(eu: float, ev: float, gap: float = 0.0) -> int | None:
    """0 or 1, the side whose difference is under :data:`CLEAR_WIN` of the other's and at least ``gap``
    below it; ``None`` when neither is."""
    if eu < CLEAR_WIN * ev and ev - eu >= gap:
        return 0
    if ev < CLEAR_WIN * eu and eu - ev >= gap:
        return 1
    return None
