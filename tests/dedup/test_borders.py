"""Uniform borders (lookalike.dedup.borders): a frame of any colour is trimmed layer after layer, a
picture's own wide background is not."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.dedup.borders import MAX_TRIM, WHOLE, box_area, content_box


def framed(picture: np.ndarray, frame: int, colour: tuple[int, int, int]) -> np.ndarray:
    h, w = picture.shape[:2]
    out = np.empty((h + 2 * frame, w + 2 * frame, 3), np.uint8)
    out[:] = colour
    out[frame : frame + h, frame : frame + w] = picture
    return out


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (40, 60, 160)])
def test_a_frame_of_any_colour_is_trimmed(colour: tuple[int, int, int]) -> None:
    img = framed(noise(160, 200), 20, colour)  # 240×200
    x0, y0, x1, y1 = content_box(img)
    assert (x0 * 240, y0 * 200) == pytest.approx((20, 20), abs=1.5)
    assert ((1 - x1) * 240, (1 - y1) * 200) == pytest.approx((20, 20), abs=1.5)


def test_a_frame_around_a_page_margin_goes_with_the_margin() -> None:
    page = np.full((200, 150, 3), 255, np.uint8)
    page[20:180, 15:135] = noise(160, 120)  # text where the margin ends
    x0, y0, _, _ = content_box(framed(page, 15, (0, 0, 0)))  # 230×180
    assert x0 * 180 == pytest.approx(15 + 15, abs=2) and y0 * 230 == pytest.approx(15 + 20, abs=2)


def test_a_wide_background_is_part_of_the_picture() -> None:
    img = np.full((200, 200, 3), 255, np.uint8)
    img[120:160, 140:180] = (220, 40, 40)  # a shape 60–70% from the top and left, 10–20% from the others
    x0, y0, x1, y1 = content_box(img)
    assert x0 == 0 and y0 == 0  # more than a quarter of white: background, kept
    assert x1 * 200 == pytest.approx(179, abs=1.5) and y1 * 200 == pytest.approx(159, abs=1.5)  # bands
    assert min(x1 - x0, y1 - y0) >= 1 - 2 * MAX_TRIM


def test_no_border_and_tiny_or_flat_pictures_are_whole() -> None:
    assert content_box(noise(64, 64)) == WHOLE
    assert content_box(np.full((100, 100, 3), 128, np.uint8)) == WHOLE
    assert content_box(noise(5, 5)) == WHOLE
    assert box_area((0.1, 0.1, 0.9, 0.6)) == pytest.approx(0.4)


def test_jpeg_noise_on_a_band_is_still_a_band() -> None:
    img = framed(noise(100, 100), 12, (20, 20, 20)).astype(np.int16)
    img[:12] += np.random.default_rng(1).integers(-5, 6, img[:12].shape).astype(np.int16)
    x0, y0, _, _ = content_box(np.clip(img, 0, 255).astype(np.uint8))
    assert y0 * 124 == pytest.approx(12, abs=1.5) and x0 * 124 == pytest.approx(12, abs=1.5)
