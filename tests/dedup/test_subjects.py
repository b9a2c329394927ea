"""Subjects on a plain background, and the crops and frames their boxes and ink imply."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from drawn_codes import qr_image, qr_modules
from drawn_shapes import OBJECT_COLOURS, shape
from lookalike.dedup.orientation import ALL
from lookalike.dedup.subjects import Subject, alignments, find_subject


def _rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


def _framed(img: Image.Image, dx: int, dy: int) -> Image.Image:
    canvas = Image.new("RGB", (img.width + 2 * dx, img.height + 2 * dy), "white")
    canvas.paste(img, (dx, dy))
    return canvas


def _subject(img: Image.Image) -> Subject:
    found = find_subject(_rgb(img))
    assert found is not None
    return found


def test_the_subject_box_holds_a_triangles_thin_tip() -> None:
    """The rows near a triangle's tip hold a pixel or two of ink: they are the subject's, not background."""
    img = shape(random.Random(0), "triangle", OBJECT_COLOURS[1], (0.5, 0.5), 0.1, size=(400, 300))
    ink = np.nonzero((np.abs(_rgb(img).astype(int) - 255)).max(-1) > 14)
    box = _subject(img).box
    assert box[1] * 300 <= ink[0].min() and box[3] * 300 >= ink[0].max() + 1
    assert box[0] * 400 <= ink[1].min() and box[2] * 400 >= ink[1].max() + 1


def test_a_photo_and_a_blank_page_have_no_subject() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert find_subject(noise) is None
    assert find_subject(np.full((120, 160, 3), 255, np.uint8)) is None


def test_the_ink_centre_and_spread_do_not_change_with_a_frame() -> None:
    img = shape(random.Random(1), "circle", OBJECT_COLOURS[0], (0.6, 0.4), 0.08, size=(400, 300))
    a, b = _subject(img), _subject(_framed(img, 60, 45))
    assert a.centre[0] * 400 + 60 == pytest.approx(b.centre[0] * 520, abs=0.05)
    assert a.centre[1] * 300 + 45 == pytest.approx(b.centre[1] * 390, abs=0.05)
    assert a.spread[0] * 400 == pytest.approx(b.spread[0] * 520, rel=1e-3)
    assert a.spread[1] * 300 == pytest.approx(b.spread[1] * 390, rel=1e-3)


@pytest.mark.parametrize("code", range(8))
def test_a_turned_images_subject_is_the_subject_turned(code: int) -> None:
    img = shape(random.Random(2), "triangle", OBJECT_COLOURS[2], (0.3, 0.6), 0.1, size=(320, 240))
    o = ALL[code]
    turned = _subject(Image.fromarray(np.ascontiguousarray(o.apply(_rgb(img)))))
    expected = _subject(img).turned(o)
    assert turned.box == pytest.approx(expected.box, abs=1e-9)
    assert turned.centre == pytest.approx(expected.centre, abs=1e-6)
    assert turned.spread == pytest.approx(expected.spread, rel=1e-6)


def test_a_wide_white_frame_is_found_as_the_box_of_the_framed_copy() -> None:
    """A frame of 18% each side: the original fills 74% of each side of the copy, less than any crop box."""
    img = shape(random.Random(3), "square", OBJECT_COLOURS[1], (0.7, 0.3), 0.06, size=(500, 400))
    framed = _framed(img, 90, 72)
    found = alignments(_subject(img), img.size, _subject(framed), framed.size)
    assert len(found) == 1
    cut_a, box = found[0]
    assert not cut_a
    assert box == pytest.approx((90 / 680, 72 / 544, 590 / 680, 472 / 544), abs=0.004)


def test_a_crop_of_the_background_is_found_as_a_box_of_the_original() -> None:
    img = shape(random.Random(4), "circle", OBJECT_COLOURS[0], (0.55, 0.5), 0.1, size=(500, 400))
    crop = img.crop((30, 20, 480, 380))
    found = alignments(_subject(img), img.size, _subject(crop), crop.size)
    assert found == [(True, pytest.approx((30 / 500, 20 / 400, 480 / 500, 380 / 400), abs=0.004))]


@pytest.mark.parametrize(("left", "copy"), [(133, True), (20, False)])
def test_a_deep_frame_counts_only_centred(left: int, copy: bool) -> None:
    """A picture shrunk to two thirds in a canvas of its own size: centred, it is the picture in a white
    frame of a sixth of each side; pushed to the left, a smaller shape elsewhere (another picture), whose
    box keeps less than a crop keeps."""
    img = shape(random.Random(8), "circle", OBJECT_COLOURS[1], (0.5, 0.45), 0.12)
    small = img.resize((533, 400), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", img.size, "white")
    canvas.paste(small, (left, 100))
    found = alignments(_subject(img), img.size, _subject(canvas), canvas.size)
    if copy:
        assert found == [(False, pytest.approx((133 / 800, 100 / 600, 666 / 800, 500 / 600), abs=0.004))]
    else:
        assert found == []


def test_a_shape_moved_on_its_background_implies_no_alignment() -> None:
    """The same circle a fifth of the width further right: a shift no crop or frame of one makes."""
    a = shape(random.Random(5), "circle", OBJECT_COLOURS[0], (0.35, 0.4), 0.1, size=(500, 400))
    b = shape(random.Random(5), "circle", OBJECT_COLOURS[0], (0.55, 0.4), 0.1, size=(500, 400))
    assert alignments(_subject(a), a.size, _subject(b), b.size) == []


def test_a_code_cut_through_its_last_row_is_placed_by_the_sides_that_agree() -> None:
    """Cutting through the code changes the height its box and ink measure, not the width: the width's
    scale, and the top edges on each other, place the crop."""
    img = qr_image(qr_modules(random.Random(6)))  # 25 modules of 10 px in a quiet zone of 4
    w, h = img.size
    crop = img.crop((10, 0, w - 15, h - 60))  # the bottom of the code cut off
    found = alignments(_subject(img), img.size, _subject(crop), crop.size)
    assert (True, pytest.approx((10 / w, 0.0, (w - 15) / w, (h - 60) / h), abs=0.004)) in found
