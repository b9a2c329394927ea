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
gone. :func:`match_clipping` applies the same clipping to the other side before structure is compared, so
that detail the edit pushed past white (or black) is missing from both alike. NumPy only.
"""

from __future__ import annotations

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
    common = np.nanmedian(np.where(np.isnan(own).all(1, keepdims=True), 1.0, own), axis=1, keepdims=True)
    gain = np.clip(common, *GAIN)
    channel = gain * np.clip(np.nan_to_num(own / gain, nan=1.0), 1 / CHANNEL_GAIN, CHANNEL_GAIN)
    offsets = mx - channel * my  # [n, channels, 1]
    shared = np.clip(offsets.mean(1, keepdims=True), -OFFSET, OFFSET)
    cast = np.clip(offsets - offsets.mean(1, keepdims=True), -CAST, CAST)
    out: npt.NDArray[np.float32] = np.clip(channel * y + shared + cast, 0.0, 1.0).astype(np.float32)
    return out


#: One side clips at least this share of its pixels more than the other: it was pushed past the range.
MORE_CLIPPED = 0.01
#: A tone edit within the bounds clips only levels within this distance of black or white.
CLIP_REACH = 0.2


def match_clipping(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Two grey images (values 0–1, one shape) clipped alike (see the module docstring): where one has
    clearly more pixels at white, the other's brightest pixels, as many, are set to white (and the same at
    black) — as long as the levels so clipped lie within :data:`CLIP_REACH` of white (black), where a
    bounded tone edit could have pushed them. Both unchanged when they clip alike. (Where many pixels share
    the level, more may be clipped than should: callers compare both ways and keep the better.)"""
    import numpy as np

    out = [x, y]
    for white in (True, False):
        at_end = [(a >= 1 - CLIPPED) if white else (a <= CLIPPED) for a in out]
        share = [float(m.mean()) for m in at_end]
        more, less = (0, 1) if share[0] > share[1] else (1, 0)
        if share[more] - share[less] < MORE_CLIPPED:
            continue
        source = out[less]
        level = float(np.quantile(source, 1 - share[more] if white else share[more]))
        if (level < 1 - CLIP_REACH) if white else (level > CLIP_REACH):
            continue
        clipped = (source >= level) if white else (source <= level)
        out[less] = np.where(clipped, np.float32(1.0 if white else 0.0), source).astype(np.float32)
    return out[0], out[1]
