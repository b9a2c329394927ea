"""Reviewing a pair by eye: a file judged against a keeper chosen by hand, the two aligned in the keeper's
frame, and the tiles where they differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dedup_support import pattern
from lookalike.dedup.review import aligned_pair, difference_image, difference_map, rejudge


def test_a_turned_cropped_copy_is_judged_against_the_keeper_and_lines_up_with_it(tmp_path: Path) -> None:
    keeper = pattern(3, (400, 300))
    keeper.save(tmp_path / "keeper.png")
    keeper.crop((20, 15, 380, 285)).transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / "copy.jpg", quality=60
    )
    member = rejudge(tmp_path / "keeper.png", tmp_path / "copy.jpg")
    assert member is not None and not member.keeper
    assert "rotated 90°" in member.kind and "cropped" in member.kind
    assert member.keeper_box is not None and member.keeper_box[0] > 0.03  # the part of the keeper it shows
    with Image.open(tmp_path / "copy.jpg") as copy:
        a, b = aligned_pair(keeper, copy, member)
    assert a.size == b.size == (360, 270)  # the keeper's region, at its own size (under the review side)
    assert float(difference_map(a, b).min()) > 0.9
    ga, gb = (np.asarray(x.convert("L"), np.float32) for x in (a, b))
    assert np.abs(ga - gb).mean() < 6  # turned back: the pictures line up pixel for pixel


def test_another_picture_is_no_member_of_the_group(tmp_path: Path) -> None:
    pattern(3, (200, 150)).save(tmp_path / "a.png")
    pattern(4, (200, 150)).save(tmp_path / "b.png")
    assert rejudge(tmp_path / "a.png", tmp_path / "b.png") is None


def test_the_difference_map_is_red_where_the_two_differ(tmp_path: Path) -> None:
    a = pattern(5, (320, 240))
    b = a.copy()
    ImageDraw.Draw(b).rectangle((250, 180, 310, 230), fill=(0, 0, 0))  # the bottom-right corner differs
    tiles = difference_map(a, b)
    assert tiles.shape == (8, 11)  # 1/8 of the shorter side, as the fine check
    assert tiles[-1, -1] < 0.5 and tiles[0, 0] > 0.99
    heat = np.asarray(difference_image(a, b))
    assert heat.shape == (240, 320, 4)
    assert heat[220, 300, 3] > 100 and heat[10, 10, 3] == 0  # opaque red there, clear elsewhere
