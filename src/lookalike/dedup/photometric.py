"""Tone edits a copy may carry: brightness, contrast and gamma changes of about 15%, a slight colour cast.

Two copies of one picture, one brightened by 12%, differ by 0.06 in every mid-tone pixel — as much as two
different pictures may differ in a flat region. Before differences are measured, :func:`match_tone` maps one
side onto the other with the best **bounded** tone map: one gain for all channels (contrast, brightness
as a gain) within :data:`GAIN`, one offset (brightness) within :data:`OFFSET`, and per channel (a colour
cast) a gain within :data:`CHANNEL_GAIN` of the common one and an offset within :data:`CAST`. A gamma
change of ±15% is close to such a map on any one picture.
The bounds are what keeps different pictures apart: a red disc cannot become a blue one, nor a picture
half as contrasty its original (those edits are beyond what the check forgives).

A brightened copy also *clips*: a light-grey panel behind white cards turns white, and the cards' edges are
gone. :func:`clip_levels` finds the level at which the other side must be clipped too — the level whose
white pixels lie where the copy's do, counted on flat pixels (reduced after the edit, text on white is a
mix of white and ink on both sides whatever the edit did), and only where the flat mid-tones both keep are
shifted as such an edit would shift them (two pictures that differ only in a light panel are not a tone
edit) — so that detail the edit pushed past white is missing from both alike;
:func:`match_clipping` applies it. NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Least and largest gain (contrast, or brightness as a gain).
GAIN = (1 / 1.25, 1.25)
#: Largest offset common to all channels (0–1 scale).
OFFSET = 0.15
#: A colour cast: each channel's gain within this factor of the common gain, and an offset of its own
#: within :data:`CAST` beyond the common one.
CHANNEL_GAIN = 1.08
CAST = 0.03
#: Levels this close to black or white count as clipped.
CLIPPED = 4 / 255


def match_tone(x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``y`` ``[n, channels, pixels]`` (values 0–1) mapped onto ``x`` of the same shape by the best bounded
    tone map of each pair: a common gain and offset, and per channel a gain within :data:`CHANNEL_GAIN` of
    the common one and an offset within :data:`CAST` of it (least squares per channel over the pixels
    clipped on neither side, the common gain their median, then clipped to the bounds), the result
    clipped to [0, 1]."""
    import numpy as np

    # pixels clipped on either side (a brightened copy's white) say nothing about the map: fit without them
    # where enough are left
    w = ((np.minimum(x, y) > CLIPPED) & (np.maximum(x, y) < 1 - CLIPPED)).astype(np.float32)
    w = np.where(w.sum(-1, keepdims=True) >= 0.1 * x.shape[-1], w, 1.0).astype(np.float32)
    n = np.maximum(w.sum(-1, keepdims=True), 1.0)
    mx, my = (w * x).sum(-1, keepdims=True) / n, (w * y).sum(-1, keepdims=True) / n
    xc, yc = (x - mx) * w, (y - my) * w
    var = (yc * yc).sum(-1, keepdims=True)
    own = np.where(var > 1e-8, (xc * yc).sum(-1, keepdims=True) / np.maximum(var, 1e-8), np.nan)
    common = _nanmedian_channels(np.where(np.isnan(own).all(1, keepdims=True), np.float32(1.0), own))
    gain = np.clip(common, *GAIN)
    channel = gain * np.clip(np.nan_to_num(own / gain, nan=1.0), 1 / CHANNEL_GAIN, CHANNEL_GAIN)
    offsets = mx - channel * my  # [n, channels, 1]
    shared = np.clip(offsets.mean(1, keepdims=True), -OFFSET, OFFSET)
    cast = np.clip(offsets - offsets.mean(1, keepdims=True), -CAST, CAST)
    out: npt.NDArray[np.float32] = np.clip(channel * y + shared + cast, 0.0, 1.0).astype(np.float32)
    return out


def _nanmedian_channels(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The median over axis 1 of ``v`` ``[n, channels, 1]``, NaNs left out (each row has a number):
    :func:`numpy.nanmedian`'s result, without its cost on a few channels (a masked array per call)."""
    import numpy as np

    ordered = np.sort(v, axis=1)  # (NaNs last)
    k = (~np.isnan(ordered)).sum(1, keepdims=True)
    low = np.take_along_axis(ordered, (k - 1) // 2, axis=1)
    high = np.take_along_axis(ordered, k // 2, axis=1)
    out: npt.NDArray[np.float32] = (low + high) / np.float32(2)
    return out


#: One side clips at least this share of its pixels more than the other: it was pushed past the range.
MORE_CLIPPED = 0.01
#: A tone edit within the bounds clips only levels within this distance of black or white.
CLIP_REACH = 0.2
#: Levels tried between the end and :data:`CLIP_REACH`.
CLIP_LEVELS = 41


@dataclass(frozen=True)
class Clip:
    """Clipping at white to apply to one side of a pair: ``side`` 0 or 1, from ``level`` (0–1) up."""

    side: int
    level: float

    def apply(self, a: npt.NDArray[np.float32], *, stretch: bool = False) -> npt.NDArray[np.float32]:
        """``a`` (values 0–1) clipped: levels from ``level`` up set to white — or, with ``stretch``, all of
        ``a`` stretched so that ``level`` becomes white (a brightness gain: at a reduced size, detail next
        to a clipped panel then fades as it did in the copy)."""
        import numpy as np

        v = np.float32(self.level)
        out: npt.NDArray[np.float32]
        if stretch:
            out = np.clip(a / v, 0.0, 1.0).astype(np.float32)
        else:
            out = np.where(a >= v, np.float32(1.0), a).astype(np.float32)
        return out

    def table(self, *, stretch: bool = False) -> list[int]:
        """The same as a 256-entry table for 8-bit grey (``Image.point``)."""
        import numpy as np

        levels = np.arange(256, dtype=np.float32) / np.float32(255)
        return [int(v) for v in np.rint(self.apply(levels, stretch=stretch) * 255)]


def clip_levels(x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]) -> Clip | None:
    """How to clip two aligned grey images (values 0–1, one shape) alike at white (see the module
    docstring): where one has clearly more pixels at white, the other is clipped at the level that makes
    the two sets of white pixels agree best *in place* (levels within :data:`CLIP_REACH` of white, where a
    bounded tone edit could have pushed them; among equally good levels the one closest to white). None
    where they clip alike, or where no level at least halves the disagreement (detail that differs, not a
    tone edit). Only white: the tone edits of :mod:`~lookalike.dedup.photometric` darken by a gain, which
    clips nothing at black, and clipping smooth dark ramps alike let two gradients of other colours pass
    for one."""
    import numpy as np

    at_white = [a >= 1 - CLIPPED for a in (x, y)]
    share = [float(m.mean()) for m in at_white]
    more, less = (0, 1) if share[0] > share[1] else (1, 0)
    if share[more] - share[less] < MORE_CLIPPED:
        return None
    # counted where the other side is flat: a reduced copy's anti-aliased edges (text on white) are mixes
    # of the clipped and the unclipped, wherever the edit put them
    flat = _flat((x, y)[less])
    source, target = (x, y)[less][flat], at_white[more][flat]
    # from white down: the first of equally good levels is the closest to white
    levels = np.linspace(1 - CLIPPED, 1 - CLIP_REACH, CLIP_LEVELS, dtype=np.float32)
    wrong = [np.count_nonzero((source >= v) != target) for v in levels]
    k = int(np.argmin(wrong))
    if wrong[k] > 0.5 * np.count_nonzero(at_white[less][flat] != target):
        return None
    clip = Clip(less, float(levels[k]))
    return clip if _toned_alike(clip, (x, y)[less], (x, y)[more], flat) else None


#: Flat mid-tone pixels needed to tell a tone edit from a panel that differs, and the least share of the
#: edit's shift they must show.
EVIDENCE = 16
SHIFT_SHOWN = 0.5


def _toned_alike(
    clip: Clip, source: npt.NDArray[np.float32], target: npt.NDArray[np.float32], flat: npt.NDArray[np.bool_]
) -> bool:
    """Whether the side that clips more is lighter than ``source`` in the mid-tones both keep, by
    at least :data:`SHIFT_SHOWN` of what an edit clipping at ``clip.level`` would shift them: an edit
    pushes everything, while two pictures that differ only in a light panel agree everywhere else. The
    pixels flat on both sides count (a reduced copy's edges are mixes); with fewer than :data:`EVIDENCE`
    of them (a 32×32 photo), every such pixel; with fewer than that, no."""
    import numpy as np

    expected = clip.apply(source, stretch=True) - source
    kept = (np.abs(expected) > 0.01) & (target > CLIPPED) & (target < 1 - CLIPPED)
    seen = kept & flat & _flat(target)
    if np.count_nonzero(seen) < EVIDENCE:
        seen = kept
    if np.count_nonzero(seen) < EVIDENCE:
        return False
    return float(np.median((target - source)[seen] / expected[seen])) >= SHIFT_SHOWN


#: A pixel is flat when its 3×3 neighbourhood spans at most this range of levels.
FLAT = 0.03


def _flat(a: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Where ``a`` (2-D) is flat: its 3×3 neighbourhood spans at most :data:`FLAT`."""
    import numpy as np

    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    shifted = [p[i : i + h, j : j + w] for i in range(3) for j in range(3)]
    out: npt.NDArray[np.bool_] = (np.max(shifted, axis=0) - np.min(shifted, axis=0)) <= FLAT
    return out


def match_clipping(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Two grey images (values 0–1, one shape) clipped alike by :func:`clip_levels`; both unchanged (the
    same objects) where they clip alike."""
    clip = clip_levels(x, y)
    if clip is None:
        return x, y
    out = [x, y]
    out[clip.side] = clip.apply(out[clip.side])
    return out[0], out[1]
