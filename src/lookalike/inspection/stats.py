"""Image statistics and the findings they make: ``blurry``, ``dark``, ``light``, ``low_information``,
``grayscale``, ``odd_size``, ``odd_aspect_ratio`` (cleanvision's names).

Each picture is measured once, as dedup reads it (:func:`measure`, on the RGB picture with its long side at
most 256 px), into :class:`ImageStats`. The findings then weigh each image against a fixed line *and*
against the folder, as cleanvision does:

============================  ==========================================================================
``dark``                      the 99th percentile of brightness (0–1) is below 0.22: hardly a pixel is
                              lit
``light``                     the 5th percentile of brightness is above 0.80: washed out, no shadow
``low_information``           under 3% of the 16-px tiles show any structure (a tile's brightness
                              varies by a standard deviation of 0.035 or more): near blank
``grayscale``                 the 99th percentile of saturation ((max − min) / max channel, over the
                              pixels not black, or for a dark picture its brighter half) is below 0.03
``blurry``                    even the sharpest edges are wide: the edge width (:func:`edge_width`, at
                              128 px on the long side, or the picture's own size when smaller) is 3 px
                              or more, and past the folder's median by 2 robust standard deviations (of
                              its logarithm)
``odd_size``                  the pixel count differs from the folder's median by 4× or more (and by
                              more than the folder's own spread)
``odd_aspect_ratio``          the elongation (long side / short side) exceeds the folder's median by
                              2× or more
============================  ==========================================================================

A kind that more than half of the folder would have is the folder's nature, not a problem (a folder of
scanned text pages is light and grayscale), and is not reported. A dark or light picture is not also
``low_information``, nor a light one ``grayscale``: its low contrast, or its faded colour, is already
said. Each finding's ``score`` is in [0, 1], higher the worse, and says how far past its line the image
lies; ``value`` and ``threshold`` give the measure itself.

Blur is judged by the picture's *sharpest* edges, not by the share of its pixels that change: a photo with
a sharp subject before a soft background, a flat graphic with few edges, a sky or a sea is not blurry; a
picture that was blurred as a whole is, whatever it shows. Measured on the planted folder of
``benchmarks/inspect_planted.py`` (CIFAR-10 photos enlarged to 96–224 px, so soft to begin with; seeds
0–2): the ordinary photos' sharpest edges are 1.9–3.7 px wide at 128 px (median 2.7–2.8), those blurred
by 2.5% of the side 4.2–6.0 px; the Crété-Roffet measure (:func:`blur_measure`, kept for
:func:`stat_outliers`) put soft, unblurred photos (cats in fur or on a plain ground) among the blurred
ones. Blur finer than about 1% of the long side is not seen at 128 px.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.inspection.findings import Finding

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

__all__ = [
    "STAT_KINDS", "ImageStats", "measure", "measure_many", "percentiles", "stat_findings", "stat_outliers"
]  # fmt: skip

STAT_KINDS = ("blurry", "dark", "light", "low_information", "grayscale", "odd_size", "odd_aspect_ratio")

DARK_P99 = 0.22
LIGHT_P5 = 0.80
TILE = 16
TILE_STD = 0.035
INFORMATIVE_SHARE = 0.03
GREY_SATURATION = 0.03
BLUR_SIDE = 128
#: :func:`edge_width`: an edge is a run of brightness rising (or falling) pixel after pixel along a row or
#: a column whose rise is at least this share of the picture's range (1st to 99th percentile), and at
#: least :data:`EDGE_MIN_RISE`; steps under :data:`EDGE_STEP` end a run. The edge width is this
#: percentile of the edges' widths: the sharpest edges.
EDGE_RISE = 0.10
EDGE_MIN_RISE = 0.02
EDGE_STEP = 0.5 / 255
EDGE_SHARPEST = 5.0
EDGE_CORE = 0.25
#: ``blurry``: the edge width (px at :data:`BLUR_SIDE`) at or above which a picture can be blurry, and the
#: robust standard deviations (of its logarithm, at least :data:`BLUR_MIN_SPREAD`) past the folder's
#: median it must lie.
BLUR_WIDTH = 3.0
BLUR_SPREADS = 2.0
BLUR_MIN_SPREAD = 0.1
SIZE_RATIO = 4.0
ASPECT_RATIO = 2.0
#: A kind more than this share of the folder has is the folder's nature: not reported.
NATURE = 0.5
#: :func:`stat_outliers`: robust standard deviations past the folder's median on one measure, and the
#: smallest spread counted for each measure (so that a folder of near-identical pictures, or a measure that
#: takes few values — a 32-px picture has four 16-px tiles — does not make a small difference look vast).
STAT_SPREADS = 6.0
STAT_MIN_SPREAD = {"p1": 0.05, "p5": 0.05, "p99": 0.05, "saturation": 0.05, "informative": 0.15, "blur": 0.03}


@dataclass(frozen=True)
class ImageStats:
    """What :func:`measure` learns of a picture: its stored size, brightness percentiles, saturation, the
    share of tiles with structure, the Crété-Roffet blur measure, and the width of its sharpest edges (see
    the module docstring)."""

    width: int
    height: int
    p1: float
    p5: float
    p99: float
    saturation: float
    informative: float
    blur: float
    edge_width: float


def measure(picture: Image.Image, size: tuple[int, int]) -> ImageStats:
    """The statistics of an RGB picture (as dedup reads it: long side at most 256 px) of a file of stored
    ``size`` (width, height): :func:`measure_many` of one picture."""
    return measure_many([picture], [size])[0]


def measure_many(pictures: Sequence[Image.Image], sizes: Sequence[tuple[int, int]]) -> list[ImageStats]:
    """:func:`measure` of each of ``pictures`` (files of stored ``sizes``), the pictures of one size in one
    stack: each measure is then a few numpy calls for the whole stack, not a hundred for each picture
    (1.2 ms a 32-px picture alone, mostly numpy's cost per call)."""
    import numpy as np

    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, picture in enumerate(pictures):
        by_shape.setdefault((picture.height, picture.width), []).append(i)
    out: list[ImageStats | None] = [None] * len(pictures)
    for at in by_shape.values():
        stack = [pictures[i] for i in at]
        rgb = np.stack([np.asarray(p.convert("RGB")) for p in stack]).astype(np.float32) / 255
        grey = rgb @ np.asarray([0.299, 0.587, 0.114], np.float32)
        n, h, w = grey.shape
        p1, p5, p99 = _row_percentiles(grey.reshape(n, -1), (1, 5, 99)).T
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # (a reduction over 3 values is slow in numpy)
        top, bottom = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
        # (the colour of black is noise; a dark picture's own colours count)
        lit = top > np.minimum(0.08, p99 / 2).astype(np.float32)[:, None, None]
        chroma = np.divide(top - bottom, top, out=np.full_like(top, np.inf), where=lit).reshape(n, -1)
        rows_at = np.arange(n) * chroma.shape[1]  # (each picture's lit pixels first in its sorted row)
        saturation = _sorted_percentile(np.sort(chroma, axis=1), rows_at, lit.sum(axis=(1, 2)), 99)
        if h >= TILE and w >= TILE:
            th, tw = h // TILE, w // TILE
            tiles = grey[:, : th * TILE, : tw * TILE].reshape(n, th, TILE, tw, TILE).std(axis=(2, 4))
            informative = (tiles >= TILE_STD).mean(axis=(1, 2))
        else:
            informative = (grey.std(axis=(1, 2)) >= TILE_STD).astype(np.float64)
        blur = _blur_rows(np.stack([_grey_at(p, BLUR_SIDE) for p in stack]))
        edges = _edge_rows(np.stack([_float_at(g, BLUR_SIDE) for g in grey]))
        for k, i in enumerate(at):
            out[i] = ImageStats(
                sizes[i][0], sizes[i][1], float(p1[k]), float(p5[k]), float(p99[k]), float(saturation[k]),
                float(informative[k]), float(blur[k]), float(edges[k]),
            )  # fmt: skip
    return [s for s in out if s is not None]


def percentiles(values: npt.ArrayLike, qs: Sequence[float]) -> list[float]:
    """The ``qs`` th percentiles of ``values``, interpolated linearly as :func:`numpy.percentile` does by
    default, by one partial sort (numpy's own costs about 50 µs a call on a 32×32 picture's pixels)."""
    import numpy as np

    return [float(v) for v in _row_percentiles(np.asarray(values).reshape(1, -1), qs)[0]]


def _row_percentiles(rows: npt.NDArray[np.floating[Any]], qs: Sequence[float]) -> npt.NDArray[np.float64]:
    """:func:`percentiles` of each row of ``rows`` (one partial sort of them all): ``(rows, len(qs))``."""
    import numpy as np

    m = rows.shape[1]
    pos = [q / 100 * (m - 1) for q in qs]
    below = [min(int(p), m - 1) for p in pos]
    above = [min(b + 1, m - 1) for b in below]
    part = np.partition(rows, sorted(set(below + above)), axis=1)
    lo, hi = part[:, below].astype(np.float64), part[:, above].astype(np.float64)
    out: npt.NDArray[np.float64] = lo + (hi - lo) * (np.asarray(pos) - below)
    return out


def _ragged_percentile(
    values: npt.NDArray[np.float32], owner: npt.NDArray[np.intp], n: int, q: float
) -> npt.NDArray[np.float64]:
    """The ``q`` th percentile (as :func:`percentiles`) of the ``values`` (at least 0) of each of ``n``
    owners (``owner[i]`` owns ``values[i]``); 0.0 for an owner of none."""
    import numpy as np

    counts = np.bincount(owner, minlength=n)
    if not len(values):
        return np.zeros(n, np.float64)
    # one sort by owner, then value: the key owner · step + value, exact in float64 (a float32 value and
    # an owner count of at most 2^28 need 24 + 28 bits), the step a power of two above every value
    step = 2.0 ** math.ceil(math.log2(float(values.max()) + 1))
    key = np.sort(owner * step + values.astype(np.float64))
    ordered = key - np.floor(key / step) * step
    return _sorted_percentile(ordered, np.cumsum(counts) - counts, counts, q)


def _sorted_percentile(
    ordered: npt.NDArray[np.floating[Any]],
    first: npt.NDArray[np.intp],
    counts: npt.NDArray[np.intp],
    q: float,
) -> npt.NDArray[np.float64]:
    """The ``q`` th percentile (as :func:`percentiles`) of each run of sorted values ``first[i]`` to
    ``first[i] + counts[i]`` of ``ordered`` (flattened); 0.0 for an empty one."""
    import numpy as np

    flat = ordered.ravel()
    last = np.maximum(counts - 1, 0)
    pos = q / 100 * last
    below = np.minimum(np.floor(pos).astype(np.intp), last)
    above = np.minimum(below + 1, last)
    out = np.zeros(len(counts), np.float64)
    has = counts > 0
    lo = flat[(first + below)[has]].astype(np.float64)
    hi = flat[(first + above)[has]].astype(np.float64)
    out[has] = lo + (hi - lo) * (pos - below)[has]
    return out


def _grey_at(picture: Image.Image, side: int) -> npt.NDArray[np.float32]:
    """Pillow's grey of a picture, its long side at most ``side`` (a box filter): what blur is judged on."""
    import numpy as np

    return np.asarray(_at_most(picture.convert("L"), side), dtype=np.float32)


def _float_at(grey: npt.NDArray[np.float32], side: int) -> npt.NDArray[np.float32]:
    """A grey picture (brightness 0–1), its long side at most ``side`` (a box filter)."""
    import numpy as np
    from PIL import Image

    return np.asarray(_at_most(Image.fromarray(np.ascontiguousarray(grey)), side), np.float32)


def _at_most(img: Image.Image, side: int) -> Image.Image:
    """``img`` with its long side at most ``side`` (a box filter; no side under 9 px)."""
    from PIL import Image

    scale = side / max(img.size)
    if scale >= 1:
        return img
    size = (max(9, round(img.width * scale)), max(9, round(img.height * scale)))
    return img.resize(size, Image.Resampling.BOX)


def blur_measure(picture: Image.Image, side: int = BLUR_SIDE) -> float:
    """How blurry a picture is, 0 (sharp) to 1 (flat), at ``side`` px on the long side: the share of its
    neighbour differences that survive a 9-pixel box blur (Crété-Roffet, Dolmiere, Ladret, Nicolas, "The
    blur effect", SPIE 2007), the larger of the two directions."""
    return float(_blur_rows(_grey_at(picture, side)[None])[0])


def _blur_rows(f: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """:func:`blur_measure` of each of a stack of grey pictures ``(n, h, w)`` (0–255)."""
    import numpy as np

    n, h, w = f.shape
    if min(h, w) < 2:
        return np.ones(n, np.float64)
    out, flat = np.zeros(n, np.float64), np.zeros(n, bool)
    for g in (f, f.transpose(0, 2, 1)):  # along columns, then along rows
        # the 9-pixel box blur along axis 1, the picture's edge pixels repeated past it: a running sum
        padded = np.concatenate([np.repeat(g[:, :1], 5, axis=1), g, np.repeat(g[:, -1:], 4, axis=1)], 1)
        c = np.cumsum(padded, 1)
        blurred = (c[:, 9:] - c[:, :-9]) / 9
        d_f = np.abs(np.diff(g, axis=1))
        d_b = np.abs(np.diff(blurred, axis=1))
        total = d_f.sum(axis=(1, 2)).astype(np.float64)
        kept = np.maximum(0.0, d_f - d_b).sum(axis=(1, 2)).astype(np.float64)
        flat |= total <= 1e-6
        out = np.maximum(out, (total - kept) / np.where(flat, 1.0, total))
    return np.where(flat, 1.0, out)


def edge_width(grey: npt.ArrayLike, side: int = BLUR_SIDE) -> float:
    """The width in pixels, at ``side`` px on the long side (or the picture's own size when smaller), of a
    grey picture's (brightness 0–1) sharpest edges; 0.0 for a picture without edges.

    Along each row and each column, a run of pixels whose brightness rises (or falls) step after step is
    an edge when its rise is at least :data:`EDGE_RISE` of the picture's range; its width is its rise over
    its steepest step: 1 for a step from one pixel to the next, about 2.5 σ for a step blurred by a
    Gaussian of σ px. The edge width is the :data:`EDGE_SHARPEST` th percentile of those widths — that of
    the sharpest edges, so that smooth content (a sky, a soft background) does not count — in the manner of
    Marziliano et al.'s edge width ("A no-reference perceptual blur metric", ICIP 2002)."""
    import numpy as np

    return float(_edge_rows(_float_at(np.ascontiguousarray(grey, np.float32), side)[None])[0])


def _edge_rows(f: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """:func:`edge_width` of each of a stack of grey pictures ``(n, h, w)``, already at their size: every
    picture's rows (and columns) one after another, a run never crossing from one row to the next."""
    import numpy as np

    n = len(f)
    low, high = _row_percentiles(f.reshape(n, -1), (1, 99)).T
    rise_line = np.maximum(EDGE_RISE * (high - low), EDGE_MIN_RISE).astype(np.float32)
    widths, owners = [], []
    for d in (np.diff(f, axis=2), np.diff(f, axis=1).transpose(0, 2, 1)):
        if d.size == 0:
            continue
        steps = np.abs(d).ravel()
        sign = (np.sign(d) * (np.abs(d) > EDGE_STEP)).ravel()
        starts = np.ones(steps.size, bool)  # a run starts each row, and where the sign changes
        starts[1:] = sign[1:] != sign[:-1]
        starts[:: d.shape[2]] = True
        first = np.flatnonzero(starts)
        steepest = np.repeat(np.maximum.reduceat(steps, first), np.diff(np.append(first, steps.size)))
        # its core, the steps of at least EDGE_CORE of its steepest: a gentle ramp that goes on beyond a
        # step (into a gradient of the same sense) does not widen the step
        core = (steps >= EDGE_CORE * steepest) & (sign != 0)
        starts[1:] |= core[1:] != core[:-1]
        first = np.flatnonzero(starts)
        rise = np.add.reduceat(steps, first)
        owner = first // (d.shape[1] * d.shape[2])
        edge = core[first] & (rise >= rise_line[owner])
        widths.append(rise[edge] / np.maximum.reduceat(steps, first)[edge])
        owners.append(owner[edge])
    if not widths:
        return np.zeros(n, np.float64)
    return _ragged_percentile(np.concatenate(widths), np.concatenate(owners), n, EDGE_SHARPEST)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _spread(values: Sequence[float]) -> float:
    """The median absolute deviation, scaled to a standard deviation (1.4826)."""
    m = _median(values)
    return 1.4826 * _median([abs(v - m) for v in values])


def _clip(x: float) -> float:
    return round(min(1.0, max(0.0, x)), 4)


def stat_findings(paths: Sequence[Path], stats: Sequence[ImageStats]) -> tuple[list[Finding], list[str]]:
    """The statistics' findings for the images ``paths`` (their :class:`ImageStats`), and a note for each
    kind left out because most of the folder has it."""
    n = len(paths)
    sizes = [(s.width, s.height) for s in stats]
    if n == 0:
        return [], []
    candidates: dict[str, list[Finding]] = {k: [] for k in STAT_KINDS}

    def add(kind: str, i: int, score: float, value: float, threshold: float, why: str) -> None:
        candidates[kind].append(
            Finding(
                paths[i],
                kind,
                _clip(score),
                {"value": round(value, 4), "threshold": round(threshold, 4), "why": why},
            )
        )

    log_width = [math.log(s.edge_width) for s in stats if s.edge_width > 0]
    width_median = math.exp(_median(log_width))
    width_line = max(
        BLUR_WIDTH,
        width_median * math.exp(BLUR_SPREADS * max(_spread(log_width), BLUR_MIN_SPREAD)),
    )
    log_area = [math.log(max(1, w * h)) for w, h in sizes]
    area_median, area_spread = _median(log_area), _spread(log_area)
    area_margin = max(math.log(SIZE_RATIO), 3 * area_spread)
    log_long = [math.log(max(w, h) / max(1, min(w, h))) for w, h in sizes]
    long_median = _median(log_long)
    long_line = long_median + max(math.log(ASPECT_RATIO), 3 * _spread(log_long))
    for i, s in enumerate(stats):
        if s.p99 < DARK_P99:
            add("dark", i, 1 - s.p99 / DARK_P99, s.p99, DARK_P99, "99th percentile of brightness")
        if s.p5 > LIGHT_P5:
            add(
                "light", i, (s.p5 - LIGHT_P5) / (1 - LIGHT_P5), s.p5, LIGHT_P5, "5th percentile of brightness"
            )
        if s.informative < INFORMATIVE_SHARE and s.p5 <= LIGHT_P5 and s.p99 >= DARK_P99:
            score = 1 - s.informative / INFORMATIVE_SHARE
            add(
                "low_information", i, score, s.informative, INFORMATIVE_SHARE, "share of tiles with structure"
            )
        if s.saturation < GREY_SATURATION and s.p5 <= LIGHT_P5:
            score = 1 - s.saturation / GREY_SATURATION
            add("grayscale", i, score, s.saturation, GREY_SATURATION, "99th percentile of saturation")
        if s.edge_width >= width_line and n >= 3:
            score = 0.5 + math.log(s.edge_width / width_line) / math.log(2) / 2  # 1 at twice the line
            why = f"width of the sharpest edges, px at {BLUR_SIDE} px (folder median {width_median:.2f})"
            add("blurry", i, score, s.edge_width, width_line, why)
        if abs(log_area[i] - area_median) > area_margin and n >= 3:
            score = (abs(log_area[i] - area_median) - area_margin) / math.log(SIZE_RATIO)
            w, h = sizes[i]
            add(
                "odd_size",
                i,
                0.5 + score / 2,
                w * h,
                math.exp(area_median),
                f"pixels ({w}×{h}) against the folder's median",
            )
        if log_long[i] > long_line and n >= 3:
            score = (log_long[i] - long_line) / math.log(ASPECT_RATIO)
            add(
                "odd_aspect_ratio",
                i,
                0.5 + score / 2,
                math.exp(log_long[i]),
                math.exp(long_line),
                "long side over short side",
            )
    findings: list[Finding] = []
    notes: list[str] = []
    for kind, found in candidates.items():
        if len(found) > NATURE * n:
            notes.append(f"{kind}: {len(found):,} of {n:,} images, the folder's nature: not reported")
        else:
            findings += found
    return findings, notes


#: The measures :func:`stat_outliers` weighs, with the words the evidence uses.
_OUTLIER_MEASURES = {
    "p1": "darkest 1% of brightness",
    "p5": "darkest 5% of brightness",
    "p99": "brightest 1% of brightness",
    "saturation": "saturation",
    "informative": "share of tiles with structure",
    "blur": "blur measure",
}


def stat_outliers(
    paths: Sequence[Path], stats: Sequence[ImageStats], explained: Collection[Path] = ()
) -> list[Finding]:
    """``outlier`` findings from the pictures themselves: an image whose brightness, saturation, structure
    or blur lies more than :data:`STAT_SPREADS` robust standard deviations from the folder's median (a
    crisp text page or chart among soft photos, colour noise among pictures), unless another finding
    (``explained``) already says why."""
    n = len(paths)
    if n < 12:
        return []
    skip = set(explained)
    out: list[Finding] = []
    lines = {}
    for name in _OUTLIER_MEASURES:
        values = [float(getattr(st, name)) for st in stats]
        lines[name] = (_median(values), max(_spread(values), STAT_MIN_SPREAD[name]))
    for i, st in enumerate(stats):
        if paths[i] in skip:
            continue
        worst, z = max(
            ((name, (float(getattr(st, name)) - m) / sd) for name, (m, sd) in lines.items()),
            key=lambda t: abs(t[1]),
        )
        if abs(z) > STAT_SPREADS:
            m = lines[worst][0]
            evidence = {
                "test": f"unlike the folder's pictures: {_OUTLIER_MEASURES[worst]}",
                "distance": round(abs(z), 2),
                "threshold": STAT_SPREADS,
                "value": round(float(getattr(st, worst)), 4),
                "median": round(m, 4),
            }
            out.append(
                Finding(
                    paths[i], "outlier", _clip(0.5 + (abs(z) - STAT_SPREADS) / STAT_SPREADS / 2), evidence
                )
            )
    return out
