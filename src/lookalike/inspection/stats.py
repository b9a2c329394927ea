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
``blurry``                    the blur measure of Crété-Roffet et al. (2007) at 128 px — how little the
                              picture changes when blurred again, 0 sharp to 1 flat — is 0.75 or more
                              and past the folder's median by 2 robust standard deviations
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
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.inspection.findings import Finding

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["STAT_KINDS", "ImageStats", "measure", "stat_findings", "stat_outliers"]

STAT_KINDS = ("blurry", "dark", "light", "low_information", "grayscale", "odd_size", "odd_aspect_ratio")

DARK_P99 = 0.22
LIGHT_P5 = 0.80
TILE = 16
TILE_STD = 0.035
INFORMATIVE_SHARE = 0.03
GREY_SATURATION = 0.03
BLUR_SIDE = 128
BLUR_LINE = 0.75
BLUR_SPREADS = 2.0
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
    share of tiles with structure, and edge strength (see the module docstring)."""

    width: int
    height: int
    p1: float
    p5: float
    p99: float
    saturation: float
    informative: float
    blur: float


def measure(picture: Image.Image, size: tuple[int, int]) -> ImageStats:
    """The statistics of an RGB picture (as dedup reads it: long side at most 256 px) of a file of stored
    ``size`` (width, height)."""
    import numpy as np

    rgb = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255
    grey = rgb @ np.asarray([0.299, 0.587, 0.114], np.float32)
    p1, p5, p99 = (float(v) for v in np.percentile(grey, [1, 5, 99]))
    top, bottom = rgb.max(axis=2), rgb.min(axis=2)
    lit = top > min(0.08, p99 / 2)  # (the colour of black is noise; a dark picture's own colours count)
    chroma = (top - bottom)[lit] / top[lit]
    saturation = float(np.percentile(chroma, 99)) if chroma.size else 0.0
    h, w = grey.shape
    th, tw = max(1, h // TILE), max(1, w // TILE)
    tiles = grey[: th * TILE, : tw * TILE] if h >= TILE and w >= TILE else grey[None, None]
    if h >= TILE and w >= TILE:
        tiles = tiles.reshape(th, TILE, tw, TILE).std(axis=(1, 3))
        informative = float((tiles >= TILE_STD).mean())
    else:
        informative = float(grey.std() >= TILE_STD)
    return ImageStats(size[0], size[1], p1, p5, p99, saturation, informative, blur_measure(picture))


def blur_measure(picture: Image.Image, side: int = BLUR_SIDE) -> float:
    """How blurry a picture is, 0 (sharp) to 1 (flat), at ``side`` px on the long side: the share of its
    neighbour differences that survive a 9-pixel box blur (Crété-Roffet, Dolmiere, Ladret, Nicolas, "The
    blur effect", SPIE 2007), the larger of the two directions."""
    import numpy as np
    from PIL import Image

    grey = picture.convert("L")
    scale = side / max(grey.size)
    if scale < 1:
        size = (max(9, round(grey.width * scale)), max(9, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BOX)
    f = np.asarray(grey, dtype=np.float32)
    if min(f.shape) < 2:
        return 1.0
    out = 0.0
    for axis in (0, 1):
        padded = np.pad(f, [(4, 4) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        c = np.cumsum(padded, axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(c.take([0], axis=axis)), c], axis=axis)
        n = f.shape[axis]
        blurred = (c.take(range(9, n + 9), axis=axis) - c.take(range(0, n), axis=axis)) / 9
        d_f = np.abs(np.diff(f, axis=axis))
        d_b = np.abs(np.diff(blurred, axis=axis))
        total = float(d_f.sum())
        if total <= 1e-6:
            return 1.0
        out = max(out, (total - float(np.maximum(0.0, d_f - d_b).sum())) / total)
    return out


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

    blurs = [s.blur for s in stats]
    blur_median = _median(blurs)
    blur_line = max(BLUR_LINE, blur_median + BLUR_SPREADS * _spread(blurs))
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
        if s.blur >= blur_line and n >= 3:
            score = 0.5 + (s.blur - blur_line) / max(1e-6, 1 - blur_line) / 2
            add("blurry", i, score, s.blur, blur_line, f"blur measure (folder median {blur_median:.3f})")
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
