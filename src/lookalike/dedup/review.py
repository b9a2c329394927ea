"""Reviewing a duplicate group by eye: a member checked against another keeper, the two pictures aligned in
the keeper's frame, and where they differ.

* :func:`rejudge` — a file as a member of a group kept by another file (a keeper chosen by hand): the
  same two checks as :func:`lookalike.dedup.find_duplicates`, ``None`` when it is no duplicate of that
  keeper (it then stays where it is).
* :func:`aligned_pair` — the keeper's region and the member's region turned back into the keeper's
  orientation, at one size: what an overlay or a swipe view shows.
* :func:`difference_map` — the SSIM of each tile of the aligned pair (the fine check's tiles), and
  :func:`difference_image` the same as a translucent heat map to lay over the keeper: red where the two
  differ.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.dedup.find import pair_judge
from lookalike.dedup.fine import TILES_ACROSS, tile_ssim
from lookalike.dedup.groups import relation_hints
from lookalike.dedup.reading import read_one
from lookalike.dedup.results import Box, Member
from lookalike.dedup.strictness import Strictness, StrictnessName, resolve

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

__all__ = ["aligned_pair", "difference_image", "difference_map", "rejudge"]

#: Longest side of the aligned pictures a review shows.
REVIEW_SIDE = 1024


def rejudge(
    keeper: str | os.PathLike[str],
    other: str | os.PathLike[str],
    *,
    strictness: Strictness | StrictnessName | str = "normal",
    flips: bool = True,
    rotations: bool = True,
    crops: bool = True,
) -> Member | None:
    """``other`` as a member of a group kept by ``keeper`` (its scores and relation to that keeper), or
    ``None`` when the checks do not find it a duplicate of ``keeper``. Raises
    :class:`lookalike.errors.ImageError` when either file cannot be read."""
    judge = pair_judge(keeper, other, resolve(strictness, {}), flips=flips, rotations=rotations, crops=crops)
    p = (0, 1)
    judge.check_pair(*p)
    if not judge.coarse_passed(p):
        return None
    fm = judge.check_fine(p)
    if not judge.fine_passes(fm):
        return None
    keeper_facts, facts = read_one(Path(keeper)).facts, read_one(Path(other)).facts
    c = judge.best_coarse(p).match
    keeper_box, box = fm.regions()
    to_member = fm.orientation.inverse  # fm turns b (the member) to look like a (the keeper)
    return Member(
        Path(other),
        facts.width,
        facts.height,
        facts.bytes,
        facts.mtime,
        False,
        ncc=c.ncc,
        rmse=c.rmse,
        hints=relation_hints(keeper_facts, facts, fm, to_member.code, other_is_a=False),
        ssim=fm.ssim,
        colour=fm.colour,
        detail=fm.detail,
        orientation=to_member,
        angle=fm.angle,
        box=box,
        keeper_box=keeper_box,
    )


def _crop(img: Image.Image, box: Box | None) -> Image.Image:
    if box is None:
        return img
    w, h = img.size
    x0, y0, x1, y1 = round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)
    return img.crop((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))


def aligned_pair(
    keeper: Image.Image, member_image: Image.Image, member: Member, side: int = REVIEW_SIDE
) -> tuple[Image.Image, Image.Image]:
    """The part of ``keeper`` that ``member`` shows and the part of the member that shows it, the member
    turned back into the keeper's orientation (and its small turn undone), both at the same size with the
    long side at most ``side``. The images are as stored, upright (EXIF applied)."""
    from PIL import Image

    k = _crop(keeper.convert("RGB"), member.keeper_box)
    m = member.orientation.inverse.apply_image(_crop(member_image.convert("RGB"), member.box))
    if abs(member.angle) > 0.05:
        m = m.rotate(-member.angle, Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))
    scale = min(1.0, side / max(k.size))
    size = (max(1, round(k.width * scale)), max(1, round(k.height * scale)))
    if k.size != size:
        k = k.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return k, m.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def difference_map(a: Image.Image, b: Image.Image, across: int = TILES_ACROSS) -> npt.NDArray[np.float32]:
    """The SSIM of each tile of two aligned pictures of one size (tiles of about 1/``across`` of the
    shorter side, as in the fine check), rows by columns: 1 where they match, lower where they differ."""
    import numpy as np

    ga = (np.asarray(a.convert("L"), dtype=np.float32) / 255).astype(np.float32)
    gb = (np.asarray(b.convert("L"), dtype=np.float32) / 255).astype(np.float32)
    h, w = ga.shape
    side = max(1, round(min(h, w) / across))
    rows, cols = max(1, round(h / side)), max(1, round(w / side))
    ys = np.linspace(0, h, rows + 1).round().astype(int)
    xs = np.linspace(0, w, cols + 1).round().astype(int)
    out = np.ones((rows, cols), np.float32)
    for r in range(rows):
        for c in range(cols):
            ta, tb = ga[ys[r] : ys[r + 1], xs[c] : xs[c + 1]], gb[ys[r] : ys[r + 1], xs[c] : xs[c + 1]]
            if ta.size:
                out[r, c] = tile_ssim(ta, tb, across=1)
    return out


def difference_image(a: Image.Image, b: Image.Image) -> Image.Image:
    """:func:`difference_map` as an RGBA picture of ``a``'s size: clear where the tiles match (SSIM ≥ 0.9),
    red and more opaque the lower their SSIM."""
    import numpy as np
    from PIL import Image

    tiles = difference_map(a, b)
    strength = np.clip((0.9 - tiles) / 0.6, 0.0, 1.0)
    rgba = np.zeros((*tiles.shape, 4), np.uint8)
    rgba[..., 0] = 230
    rgba[..., 1] = 40
    rgba[..., 2] = 40
    rgba[..., 3] = (strength * 200).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA").resize(a.size, Image.Resampling.NEAREST)
