"""The fine check: is a candidate pair the same picture where its content differs?

At 12×12 two pages of text in one layout, or two windows of one app, are the same picture; a duplicate must
be confirmed at a resolution where distinct content differs. Each image keeps a grey thumbnail whose long
side is at most :data:`FINE` pixels (its own size when smaller). For a pair, ``b`` is first put in the
orientation the coarse check found; each side's *view* (the whole image, or its content box without a
uniform border) is what is compared. The alignment found by the coarse check (which side is cropped to which
box) is refined there by a coarse-to-fine search that moves each edge of the box and turns it by up to
:data:`MAX_ANGLE` degrees (a scan, a photo of a print), maximising the correlation of the two resampled
images; then both are compared on one grid — the whole side's shape, at the resolution of the smaller of
the two:

* **structure** — the SSIM of each tile (≈ 1/8 of the shorter side, at least 8 px), and the *lowest* tile
  counts: a duplicate matches everywhere, while two pages of different words, or two screens whose text
  differs in one panel, fail in the tiles where they differ. A re-encode, a resize or a tone edit changes
  each tile a little and none much (a brightened copy that clips is aligned and compared with the other
  side clipped alike, :func:`~lookalike.dedup.photometric.clip_levels`).
* **colour** — the largest difference in a mean channel of the 8×8 px tiles of the aligned 32×32 colour
  thumbnails, after the bounded tone map of :mod:`~lookalike.dedup.photometric`: grey tells a red disc
  from a blue one of the same brightness only here.

Everything is NumPy and Pillow (no torch): resampling with a box is Pillow's antialiased resize.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from lookalike.dedup.borders import WHOLE, Box, box_area
from lookalike.dedup.orientation import IDENTITY, Orientation
from lookalike.dedup.photometric import Clip, clip_levels, match_tone

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

#: Long side of the grey thumbnail kept per image for the fine check.
FINE = 256
#: Smallest tile side in pixels, and the number of tiles across the shorter side of the grid.
TILE_MIN = 8
TILES_ACROSS = 8
# The detail score's tiles: 1/12 of the side, in two tilings half a tile apart, so that a small shape
# spans several tiles whichever way it falls (a disc and a square of one size and colour differ only in
# their corners, which a 1/8 tile averages away: SSIM 0.81 there, 0.28 here; duplicates ≥ 0.68 here).
DETAIL_ACROSS = 12
# SSIM's stabilising constants for values in [0, 1]: (0.01)² and (0.03)² as in Wang et al. 2004.
C1 = 0.01**2
C2 = 0.03**2
# The box of the cut side keeps at least this much of each side of its view (crops keeping ≥ 75% of the
# area cut no side below 0.75), and with a mirror image at most a thin border (mirroring and recomposing
# together would let any symmetric shape match its neighbour at the mirrored place): a box may not shrink
# onto a look-alike detail of a distinct image.
MIN_SIDE = 0.75
MIN_SIDE_FLIPPED = 0.97
# No edge moves further than this (fraction) from where the coarse check put it: the coarse boxes are
# spaced 0.025–0.05 apart, and a wider search finds false optima in periodic content (rows of a list).
RADIUS = 0.04
#: Largest turn (degrees) the search gives the cut side: scans and photos of prints sit within it.
MAX_ANGLE = 2.5
#: Turns are searched on grids up to this long side, for pictures compared on a grid of at least
#: :data:`TURN_FROM` (a degree moves the corners of a smaller one by less than a pixel).
TURN_GRID = 128
TURN_FROM = 96
# A refined box that cuts more than this from some side (fraction) makes the pair a crop.
CUT_MIN = 0.01
# Two sides frame the picture they share alike when the shares of their images it covers are this close.
FRAMED_ALIKE = 1.05


@dataclass(frozen=True)
class Start:
    """An alignment to start the fine search from: ``orientation`` turns ``b`` to look like ``a``; the cut
    side (``a`` when ``cropped_a``, else ``b`` once turned) is cut to ``box`` (fractions of its view); the
    views are the parts of each image compared (``view_b`` in ``b``'s own, unturned frame), and
    ``thumb_a`` / ``thumb_b`` their 32×32 colour thumbnails (``thumb_b`` unturned)."""

    orientation: Orientation
    cropped_a: bool
    box: Box
    thumb_a: npt.NDArray[np.uint8] = field(compare=False, repr=False)
    thumb_b: npt.NDArray[np.uint8] = field(compare=False, repr=False)
    view_a: Box = WHOLE
    view_b: Box = WHOLE

    def other_side(self) -> Start:
        """The same start with the other side as the one whose edges the search moves."""
        return replace(self, cropped_a=not self.cropped_a)


@dataclass(frozen=True)
class FineMatch:
    """The fine verdict's numbers for one pair at its refined alignment.

    ``ssim`` is the lowest tile SSIM of the grey images (1 = identical), ``detail`` the same over tiles
    of 1/12 of the side in two offset tilings (:data:`DETAIL_ACROSS`), ``colour`` the largest tile
    difference of mean colour after the tone map (0–1 scale), ``size`` the grid they were compared on
    (width, height), ``box`` the refined box of the cut side (fractions of its view), ``angle`` its turn
    in degrees (counter-clockwise), ``orientation`` what turns ``b`` to look like ``a``, ``cropped_a``
    whether the box is on ``a`` (else on ``b``), and the views compared. ``anchored`` is false when all
    the cut side shows, apart from its background, is what the cut went through
    (:func:`only_cut_through`).
    """

    ssim: float
    colour: float
    size: tuple[int, int]
    box: Box
    orientation: Orientation = IDENTITY
    cropped_a: bool = True
    detail: float = 1.0
    angle: float = 0.0
    view_a: Box = WHOLE
    view_b: Box = WHOLE
    local: float | None = None
    local_size: tuple[int, int] | None = None
    anchored: bool = True

    @property
    def cropped(self) -> str:
        """The side cut to ``box``: ``"a"`` or ``"b"``, or ``""`` when the box keeps (nearly) all of it."""
        cut = max(self.box[0], self.box[1], 1 - self.box[2], 1 - self.box[3]) > CUT_MIN
        return ("a" if self.cropped_a else "b") if cut else ""

    def shows_more(self) -> str:
        """Which side shows more around the picture both show — ``"a"`` or ``"b"`` (the other is cropped,
        or this one has a border added), ``""`` when they frame it alike (within 5%)."""
        ra, rb = self.regions()
        ratio = box_area(ra) / max(box_area(rb), 1e-9)
        return "a" if ratio < 1 / FRAMED_ALIKE else "b" if ratio > FRAMED_ALIKE else ""

    def regions(self) -> tuple[Box, Box]:
        """The parts of ``a`` and of ``b`` (fractions of each file as it is stored, upright) that show the
        same picture: each view, and within the cut side's view its box."""
        turned_view_b = self.orientation.apply_box(self.view_b)
        if self.cropped_a:
            return _inside(self.view_a, self.box), self.view_b
        region_b = self.orientation.inverse.apply_box(_inside(turned_view_b, self.box))
        return self.view_a, region_b


def _inside(outer: Box, inner: Box) -> Box:
    """``inner`` (fractions of ``outer``) as fractions of the whole."""
    w, h = outer[2] - outer[0], outer[3] - outer[1]
    return (
        outer[0] + inner[0] * w,
        outer[1] + inner[1] * h,
        outer[0] + inner[2] * w,
        outer[1] + inner[3] * h,
    )


def _grid(x: Image.Image, xbox: Box, y: Image.Image, ybox: Box, cap: int | None = None) -> tuple[int, int]:
    """The comparison grid: the shape of ``y``'s ``ybox``, at the resolution of whichever side has fewer
    pixels there (``xbox`` of ``x`` or ``ybox`` of ``y``), long side at most ``cap``."""
    bw, bh = (xbox[2] - xbox[0]) * x.width, (xbox[3] - xbox[1]) * x.height
    yw, yh = (ybox[2] - ybox[0]) * y.width, (ybox[3] - ybox[1]) * y.height
    r = min(1.0, bw / yw, bh / yh)
    if cap is not None:
        r = min(r, cap / max(yw, yh))
    return max(2, round(yw * r)), max(2, round(yh * r))


def _sample(img: Image.Image, box: Box, size: tuple[int, int], angle: float = 0.0) -> npt.NDArray[np.float32]:
    """``box`` (fractions) of ``img``, turned by ``angle`` degrees about its centre, resampled to ``size``,
    as floats in [0, 1]."""
    import numpy as np
    from PIL import Image

    px = (box[0] * img.width, box[1] * img.height, box[2] * img.width, box[3] * img.height)
    if angle:
        centre = ((px[0] + px[2]) / 2, (px[1] + px[3]) / 2)
        img = img.rotate(angle, Image.Resampling.BILINEAR, center=centre, fillcolor=_edge_grey(img))
    out = img.resize(size, Image.Resampling.BILINEAR, box=px, reducing_gap=None)
    arr: npt.NDArray[np.float32] = np.asarray(out, dtype=np.float32) / np.float32(255)
    return arr


def _past_blend(xbox: Box, xframe: Box, ybox: Box, size: tuple[int, int]) -> tuple[Box, Box]:
    """``xbox`` (in its view ``xframe``) and ``ybox`` both cut by one grid pixel (of ``size``) on each side
    where either lies on a trimmed border (``xbox`` within two grid pixels of it): reduced, a border bleeds
    into the picture's first pixel (a black letterbox darkened the edge of a chat's grey background by
    0.08, its tiles' SSIM 0.797), and that blend is not the picture. The same share of each box goes, so
    the two stay aligned."""
    w, h = xbox[2] - xbox[0], xbox[3] - xbox[1]
    near = (2 * w / size[0], 2 * h / size[1]) * 2  # two grid pixels, as fractions of the whole
    gaps = (xbox[0] - xframe[0], xbox[1] - xframe[1], xframe[2] - xbox[2], xframe[3] - xbox[3])
    x_border = (xframe[0] > 0, xframe[1] > 0, xframe[2] < 1, xframe[3] < 1)
    y_border = (ybox[0] > 0, ybox[1] > 0, ybox[2] < 1, ybox[3] < 1)
    cut = [(1 / size[k % 2] if (x_border[k] and gaps[k] < near[k]) or y_border[k] else 0.0) for k in range(4)]
    if not any(cut):
        return xbox, ybox

    def inset(b: Box) -> Box:
        bw, bh = b[2] - b[0], b[3] - b[1]
        return (b[0] + cut[0] * bw, b[1] + cut[1] * bh, b[2] - cut[2] * bw, b[3] - cut[3] * bh)

    return inset(xbox), inset(ybox)


def _toned_pairs(
    x: Image.Image, xbox: Box, y: Image.Image, ybox: Box
) -> list[tuple[Image.Image, Image.Image]]:
    """The pair as it is, and — where one side was pushed past white (a brightened copy) — the other
    clipped alike and stretched alike (:func:`~lookalike.dedup.photometric.clip_levels` on the whole grid
    at ``xbox`` / ``ybox``), at the fine thumbnail's resolution: clipping a reduced sample would also clip
    faint detail next to the clipped panel, which the copy keeps."""
    full = _grid(x, xbox, y, ybox)
    clip = clip_levels(_sample(x, xbox, full), _sample(y, ybox, full))
    if clip is None:
        return [(x, y)]
    return [(x, y)] + [_clipped(x, y, clip, stretch) for stretch in (False, True)]


def _best_tiles(
    pairs: Sequence[tuple[Image.Image, Image.Image]],
    pose: _Pose,
    xframe: Box,
    ybox: Box,
    size: tuple[int, int],
) -> tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The highest tile SSIM over ``pairs`` (:func:`_toned_pairs`) at ``pose`` against ``ybox`` on the grid
    ``size``, the blend at trimmed borders left out (:func:`_past_blend`), and the samples it was on."""
    xin, yin = _past_blend(pose.box, xframe, ybox, size)
    samples = [(_sample(px, xin, size, pose.angle), _sample(py, yin, size)) for px, py in pairs]
    scores = [tile_ssim(sx, sy) for sx, sy in samples]
    k = max(range(len(scores)), key=scores.__getitem__)
    return scores[k], samples[k][0], samples[k][1]


def _clipped(x: Image.Image, y: Image.Image, clip: Clip, stretch: bool) -> tuple[Image.Image, Image.Image]:
    """``x`` and ``y`` with one clipped as ``clip`` says (:meth:`~lookalike.dedup.photometric.Clip.table`)."""
    out = [x, y]
    out[clip.side] = out[clip.side].point(clip.table(stretch=stretch))
    return out[0], out[1]


def _edge_grey(img: Image.Image) -> int:
    """The median grey of the outermost pixels: what a turn shows where the picture ran out."""
    import numpy as np

    a = np.asarray(img)
    return int(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))


def _levels(x: Image.Image, xbox: Box, y: Image.Image, ybox: Box) -> list[int]:
    """Grid sizes (long side) of the coarse-to-fine search: 64 and 128 below the full grid, then it (a
    32 px grid finds false optima in rows of text and lists, and saves little)."""
    full = max(_grid(x, xbox, y, ybox))
    return [s for s in (64, 128) if s < full] + [full]


def _reduced(img: Image.Image, side: int) -> Image.Image:
    """``img`` box-reduced by a whole factor while its long side stays at least twice ``side``."""
    factor = max(img.size) // (2 * side)
    return img.reduce(factor) if factor > 1 else img


@dataclass(frozen=True)
class _Pose:
    """Where the cut side is sampled: its box (fractions of the whole image) and turn (degrees)."""

    box: Box
    angle: float = 0.0


def refine(
    x: Image.Image,
    y: Image.Image,
    pose: _Pose,
    ybox: Box,
    cap: int,
    steps: Sequence[float],
    *,
    home: Box,
    frame: Box,
    min_side: float = MIN_SIDE,
    turn: bool = True,
) -> tuple[_Pose, float]:
    """The pose of ``x`` that best matches ``ybox`` of ``y`` near ``pose`` on the grid whose long side is
    ``cap``, and their correlation there.

    For each step of ``steps`` (in grid pixels), each edge of the box moves by that step — and with
    ``turn`` the box turns by the angle that moves its corners that far — while the normalized
    cross-correlation of the resampled pair improves, staying within :data:`RADIUS` of ``home``, within
    :data:`MAX_ANGLE`, and keeping sides of at least ``min_side`` of ``frame`` (the view the box lies in; the
    box may reach past it, whose edges were found on a coarser grid, up to the image's own), or of ``home``
    where that is smaller.
    """
    import numpy as np
    from PIL import Image

    size = _grid(x, pose.box, y, ybox, cap)
    # resampling costs in proportion to the source: search on copies reduced to about twice the grid
    x = _reduced(x, max(size))
    target = _sample(_reduced(y, max(size)), ybox, size).ravel()
    target = target - target.mean()
    target /= max(float(np.linalg.norm(target)), 1e-12)
    # (a start narrower than that, read from the pictures' subjects, keeps its own sides at least)
    least_w = min(min_side * (frame[2] - frame[0]), home[2] - home[0])
    least_h = min(min_side * (frame[3] - frame[1]), home[3] - home[1])

    # a turned source per angle, turned once about the starting box's centre: a box that then moves by a
    # pixel or two is the same turn about its own centre shifted by far less than a pixel
    turned: dict[float, Image.Image] = {0.0: x}
    centre = ((pose.box[0] + pose.box[2]) / 2 * x.width, (pose.box[1] + pose.box[3]) / 2 * x.height)

    def sample(p: _Pose) -> npt.NDArray[np.float32]:
        if p.angle not in turned:
            turned[p.angle] = x.rotate(
                p.angle, Image.Resampling.BILINEAR, center=centre, fillcolor=_edge_grey(x)
            )
        return _sample(turned[p.angle], p.box, size)

    def nccs(poses: list[_Pose]) -> npt.NDArray[np.float32]:
        xs = np.stack([sample(p).ravel() for p in poses])
        xs -= xs.mean(1, keepdims=True)
        out: npt.NDArray[np.float32] = (xs @ target) / np.maximum(np.linalg.norm(xs, axis=1), 1e-12)
        return out

    best, score = pose, float(nccs([pose])[0])
    for fraction in steps:
        # a step as a fraction of x's width and height, and as the turn that moves a corner that far
        dx = fraction * (best.box[2] - best.box[0]) / size[0]
        dy = fraction * (best.box[3] - best.box[1]) / size[1]
        da = math.degrees(fraction / (0.5 * math.hypot(*size)))
        for _ in range(4):  # each round: every edge moved both ways (and the box turned), the best kept
            trials: list[_Pose] = []
            for edge, d in ((0, dx), (1, dy), (2, dx), (3, dy)):
                for sign in (-1.0, 1.0):
                    t = list(best.box)
                    t[edge] = min(1.0, max(0.0, t[edge] + sign * d))
                    near_home = abs(t[edge] - home[edge]) <= RADIUS
                    if near_home and t[2] - t[0] >= least_w and t[3] - t[1] >= least_h:
                        trials.append(_Pose((t[0], t[1], t[2], t[3]), best.angle))
            if turn:
                trials += [
                    _Pose(best.box, a) for a in (best.angle - da, best.angle + da) if abs(a) <= MAX_ANGLE
                ]
            if not trials:
                break
            scores = nccs(trials)
            k = int(scores.argmax())
            if scores[k] <= score + 1e-6:
                break
            best, score = trials[k], float(scores[k])
    return best, score


def _soften(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A [1, 2, 1]/4 blur along both axes: the two sides of a pair are resampled differently (one from a
    box at a sub-pixel offset, one whole), and this evens out the half-pixel of blur between them while
    words, lines and edges stay."""
    import numpy as np

    p = np.pad(a, 1, mode="edge")
    v = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4
    return np.asarray((v[:, :-2] + 2 * v[:, 1:-1] + v[:, 2:]) / 4, dtype=np.float32)


def tile_ssim(
    a: npt.NDArray[np.float32],
    b: npt.NDArray[np.float32],
    across: int = TILES_ACROSS,
    *,
    offset: bool = False,
) -> float:
    """The lowest SSIM over the tiles of two equal-shape grey images in [0, 1].

    Both are softened first (:func:`_soften`). Tiles are about 1/``across`` of the shorter side and at
    least :data:`TILE_MIN` px; each tile's SSIM uses its own mean, variance and covariance (Wang et al.
    2004, with a uniform window the size of the tile). With ``offset`` a second tiling, shifted by half a
    tile both ways, counts too: a small difference that straddles tiles of one tiling lies in one tile of
    the other.
    """
    import numpy as np

    h, w = a.shape
    side = max(TILE_MIN, round(min(h, w) / across))
    a64, b64 = _soften(a).astype(np.float64), _soften(b).astype(np.float64)
    lowest = 1.0
    for shift in (0, side // 2) if offset and min(h, w) >= 2 * side else (0,):
        aa, bb = a64[shift:, shift:], b64[shift:, shift:]
        hh, ww = aa.shape
        ys = np.unique(np.linspace(0, hh, max(1, round(hh / side)) + 1).round().astype(np.intp))[:-1]
        xs = np.unique(np.linspace(0, ww, max(1, round(ww / side)) + 1).round().astype(np.intp))[:-1]

        def sums(
            v: npt.NDArray[np.float64], ys: npt.NDArray[np.intp] = ys, xs: npt.NDArray[np.intp] = xs
        ) -> npt.NDArray[np.float64]:
            return np.add.reduceat(np.add.reduceat(v, ys, axis=0), xs, axis=1)

        n = sums(np.ones_like(aa))
        ma, mb = sums(aa) / n, sums(bb) / n
        va = np.maximum(sums(aa * aa) / n - ma * ma, 0.0)
        vb = np.maximum(sums(bb * bb) / n - mb * mb, 0.0)
        cov = sums(aa * bb) / n - ma * mb
        ssim = ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2))
        lowest = min(lowest, float(ssim.min()))
    return lowest


def colour_difference(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], box: Box, cropped_a: bool) -> float:
    """The largest difference of mean colour (the mean over R, G, B of |Δ|, 0–1) over the 8×8 px tiles of
    two 32×32 RGB thumbnails (``b`` already turned), the cropped side resampled to ``box`` first, one
    tone-matched to the other (:func:`~lookalike.dedup.photometric.match_tone`) either way, the closer
    counting (toning a sharp image onto its blurred half-size copy differed by 0.09, the other way 0.02).
    (The largest channel's
    difference instead turned down 10 of 200 CIFAR-10 images halved to 16×16: 0.06–0.09 on fine colour
    detail the halving blurs.)"""
    import numpy as np
    from PIL import Image

    side = a.shape[0]
    x, y = (a, b) if cropped_a else (b, a)
    px = tuple(min(float(side), max(0.0, v * side)) for v in box)  # a refined box may reach past the view
    xs = np.asarray(
        Image.fromarray(np.ascontiguousarray(x)).resize(
            (side, side), Image.Resampling.BILINEAR, box=px, reducing_gap=None
        ),
        dtype=np.float32,
    ) / np.float32(255)
    ys = y.astype(np.float32) / np.float32(255)
    flat_x, flat_y = xs.reshape(1, -1, 3).transpose(0, 2, 1), ys.reshape(1, -1, 3).transpose(0, 2, 1)
    t = side // 4
    out = []
    for p, fp, fq in ((xs, flat_x, flat_y), (ys, flat_y, flat_x)):  # either file toned onto the other
        toned = match_tone(fp, fq)[0].T.reshape(side, side, 3)
        diff = (p - toned).reshape(4, t, 4, t, 3).mean(axis=(1, 3))
        out.append(float(np.abs(diff).mean(-1).max()))
    return min(out)


def compare(
    a: Image.Image,
    b: Image.Image,
    starts: Iterable[Start],
    *,
    give_up_below: float = -1.0,
    enough: Callable[[FineMatch], bool] | None = None,
    turn: bool = True,
) -> FineMatch:
    """Refine the alignment of a pair and compare it tile by tile (see the module docstring).

    ``a`` and ``b`` are fine grey thumbnails (``b`` as stored, unturned). Each of ``starts`` (e.g. the
    coarse check's best alignment, then the best with ``a`` cut and with ``b`` cut), in order until one is
    ``enough`` (e.g. passes the thresholds), is refined on grids of 64, 128, … px up to the full one (with
    ``turn``, turning the cut side by up to :data:`MAX_ANGLE` too); the first that is enough counts, else
    the one with the highest lowest-tile SSIM. A start whose SSIM on a 64 or 128 px grid is below
    ``give_up_below`` is decided there (``size`` says which grid): duplicates score ≥ 0.95 on those grids
    once aligned (benchmarks/dedup.py), and a pair that far apart does not come together one grid later.
    """
    import numpy as np

    starts = iter(starts)
    turned: dict[Orientation, Image.Image] = {}

    def search(st: Start) -> tuple[float, _Pose, tuple[int, int], float, bool]:
        """One start through every grid; decided early where the tile SSIM on a 64 or 128 px grid falls
        below ``give_up_below``. Also whether the cut side shows more than what its cut went through."""
        if st.orientation not in turned:
            turned[st.orientation] = st.orientation.apply_image(b)
        bb = turned[st.orientation]
        view_b = st.orientation.apply_box(st.view_b)
        x, y = (a, bb) if st.cropped_a else (bb, a)
        xframe, ybox = (st.view_a, view_b) if st.cropped_a else (view_b, st.view_a)
        start_box = _inside(xframe, st.box)
        side = MIN_SIDE_FLIPPED if st.orientation.mirror else MIN_SIDE
        levels = _levels(x, start_box, y, ybox)
        pose = _Pose(start_box)
        pairs = _toned_pairs(x, start_box, y, ybox)
        ax, ay = pairs[1] if len(pairs) > 1 else pairs[0]  # (aligned on the clipped pair, where one is)
        ssim, size, detail, anchored = -1.0, _grid(x, start_box, y, ybox), -1.0, True
        for n, cap in enumerate(levels):
            last = n == len(levels) - 1
            # turns are searched on the coarse grids, where they are cheap and a degree moves the corners
            # by a pixel or two; finer grids keep the angle found
            turning = turn and cap <= TURN_GRID and levels[-1] >= TURN_FROM
            step = _steps(n, last)
            pose, _ = refine(
                ax, ay, pose, ybox, cap, step, home=start_box, frame=xframe, min_side=side, turn=turning
            )
            if last or cap >= 64:
                size = _grid(x, pose.box, y, ybox, cap)
                ssim, xs, ys = _best_tiles(pairs, pose, xframe, ybox, size)
                if ssim < give_up_below:  # hopeless already: decided on this grid
                    break
                if last:
                    detail = tile_ssim(xs, ys, DETAIL_ACROSS, offset=True)
                    anchored = not only_cut_through(xs, _relative(xframe, pose.box))
        return ssim, pose, size, detail, anchored

    best: FineMatch | None = None
    again: list[Start] = []
    tried: set[Start] = set()
    for st in itertools.chain(starts, again):  # in order, until one is good enough (made when asked for)
        ssim, pose, size, detail, anchored = search(st)
        view_b = st.orientation.apply_box(st.view_b)
        xframe = st.view_a if st.cropped_a else view_b
        box = _relative(xframe, pose.box)
        thumb_b = np.ascontiguousarray(st.orientation.apply(st.thumb_b))
        colour = colour_difference(st.thumb_a, thumb_b, box, st.cropped_a)
        match = FineMatch(
            ssim,
            colour,
            size,
            box,
            st.orientation,
            st.cropped_a,
            detail,
            pose.angle,
            st.view_a,
            st.view_b,
            anchored=anchored,
        )
        ok = enough is not None and enough(match)
        if best is None or ok or ssim > best.ssim:
            best = match
        if ok:
            break
        tried.add(st)
        other = st.other_side()
        if st.box == WHOLE and ssim >= max(give_up_below, 0.0) and other not in tried and other not in again:
            # close but not enough, nothing cut: once more with the other side's edges free to move (the
            # search moves one side's edges only, and the side that shows a little more must be the one)
            again.append(other)
    if best is None:
        raise ValueError("compare needs at least one start")
    return best


#: Levels this far from the background's (the median) are something on it.
SHOWN = 0.1
#: A picture with more than this share of such pixels is no picture on a background; nor one whose other
#: pixels vary by more than this (grass, a sky with clouds: their texture is a picture too).
MOSTLY_SHOWN = 0.2
PLAIN = 0.02


def only_cut_through(x: npt.NDArray[np.float32], box: Box) -> bool:
    """Whether ``x`` (grey, 0–1), the sample of ``box`` (fractions of its view), is shapes on a plain
    background every one of which touches a side the box cuts (by more than :data:`CUT_MIN`).

    A crop of one shape on white can pass for a smaller shape of another picture when the cut goes through
    it — a large square cut to its corner is a small square at the corner — while a crop that two pictures
    truly share keeps something whole inside it. Shapes are the pixels :data:`SHOWN` from the median level,
    joined 8-way; pictures where more than :data:`MOSTLY_SHOWN` of the pixels are such, or none are, or
    whose background varies by more than :data:`PLAIN`, are not shapes on a plain background, and pass."""
    import numpy as np

    cut = [box[0] > CUT_MIN, box[1] > CUT_MIN, 1 - box[2] > CUT_MIN, 1 - box[3] > CUT_MIN]
    if not any(cut):
        return False
    shape = np.abs(x - np.median(x)) > SHOWN
    if not shape.any() or shape.mean() > MOSTLY_SHOWN or float(x[~shape].std()) > PLAIN:
        return False
    h, w = shape.shape
    reached = np.zeros_like(shape)
    left, top, right, bottom = cut
    if left:
        reached[:, 0] = shape[:, 0]
    if top:
        reached[0] = shape[0]
    if right:
        reached[:, -1] = shape[:, -1]
    if bottom:
        reached[-1] = shape[-1]
    while True:  # grown from the cut sides through the shapes they touch, 8-way
        p = np.pad(reached, 1)
        grown = shape & np.logical_or.reduce([p[i : i + h, j : j + w] for i in range(3) for j in range(3)])
        if np.array_equal(grown, reached):
            return bool(np.array_equal(reached, shape))
        reached = grown


def _steps(n: int, last: bool) -> list[float]:
    """The search's steps on grid ``n``: 1 and ½ grid pixel on the first, ½ on later ones (the previous
    left the box within one pixel), and ¼ more on the last."""
    return ([1.0, 0.5] if n == 0 else [0.5]) + ([0.25] if last else [])


def _relative(outer: Box, box: Box) -> Box:
    """``box`` (fractions of the whole) as fractions of ``outer``."""
    w, h = outer[2] - outer[0], outer[3] - outer[1]
    return (
        (box[0] - outer[0]) / w,
        (box[1] - outer[1]) / h,
        (box[2] - outer[0]) / w,
        (box[3] - outer[1]) / h,
    )
