"""Tone edits (lookalike.dedup.photometric): brightness, contrast, gamma and casts of about 15% are
undone by the bounded tone map; halved contrast and other colours are not; clipping is matched."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.dedup.photometric import Clip, _nanmedian_channels, clip_levels, match_clipping, match_tone


def rows(img: np.ndarray) -> np.ndarray:
    """[h, w, 3] in 0–1 → [1, 3, pixels]."""
    return img.reshape(1, -1, 3).transpose(0, 2, 1).astype(np.float32)


@pytest.fixture
def picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(0.1, 0.85, (24, 24, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p * 1.12,  # brightness +12%
        lambda p: 0.5 + (p - 0.5) * 0.85,  # contrast −15%
        lambda p: p**0.87,  # gamma
        lambda p: p * np.array([1.06, 1.0, 0.94], np.float32),  # a warm cast
    ],
)
def test_tone_edits_of_about_fifteen_percent_are_undone(picture: np.ndarray, edit: object) -> None:
    copy = np.clip(edit(picture), 0, 1)  # type: ignore[operator]
    before = np.abs(rows(picture) - rows(copy)).mean()
    after = np.abs(rows(picture) - match_tone(rows(picture), rows(copy))).mean()
    assert after < 0.25 * before and after < 0.02


def test_halved_contrast_and_swapped_colours_stay_apart(picture: np.ndarray) -> None:
    flat = 0.5 + (picture - 0.5) * 0.5
    assert np.abs(rows(picture) - match_tone(rows(picture), rows(flat))).mean() > 0.04
    swapped = picture[..., ::-1]
    assert np.abs(rows(picture) - match_tone(rows(picture), rows(swapped))).mean() > 0.1


def test_detail_pushed_past_white_is_clipped_on_the_other_side_too() -> None:
    panel = np.full((40, 40), 0.9, np.float32)
    panel[10:30, 10:30] = 1.0  # a white card on a light-grey panel
    panel[18:22, 5:35] = 0.1  # dark text
    bright = np.clip(panel * 1.12, 0, 1)  # the card's edge is gone
    x, y = match_clipping(panel, bright)
    assert np.array_equal(y, bright) and np.abs(x - y).max() < 0.13
    assert (x == 1.0).mean() == pytest.approx((bright >= 1.0).mean(), abs=0.01)


def test_clipping_alike_or_far_from_white_changes_nothing() -> None:
    a = np.linspace(0, 0.7, 100, dtype=np.float32).reshape(10, 10)
    x, y = match_clipping(a, a * 1.1)
    assert x is a
    b = np.where(a > 0.3, 1.0, a).astype(np.float32)  # "clipped" from 0.3 up: no tone edit does that
    x, y = match_clipping(a, b)
    assert np.array_equal(x, a) and np.array_equal(y, b)


def screen(panel: float = 0.94) -> np.ndarray:
    """A 480×320 grey "window" (0–1): a white page, a light-grey sidebar, a mid-grey button and rows of
    one-pixel dark "text" on both."""
    img = np.ones((320, 480), np.float32)
    img[:, :127] = panel
    img[20:60, 300:440] = 0.45  # a button
    for y in range(80, 300, 12):
        img[y, 10:110] = 0.2
        img[y, 140:460] = 0.15
    return img


def reduced(img: np.ndarray, size: tuple[int, int] = (120, 80)) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img.astype(np.float32), "F").resize(size, Image.Resampling.BOX))


def test_a_brightened_copy_reduced_after_the_edit_is_clipped_in_place() -> None:
    from lookalike.dedup.fine import tile_ssim

    original = screen()
    copy = np.clip(original * 1.12, 0, 1)  # the sidebar goes white; then both are reduced, as thumbnails are
    x, y = reduced(copy), reduced(original)
    clip = clip_levels(x, y)
    assert clip is not None and clip.side == 1 and 0.8 <= clip.level <= 0.94  # the sidebar's level clips
    assert tile_ssim(x, y) < 0.8  # the sidebar's edge is structure on one side only
    assert tile_ssim(*match_clipping(x, y)) > 0.9 and tile_ssim(x, clip.apply(y, stretch=True)) > 0.9


def test_a_light_panel_one_side_lacks_is_not_clipped_away() -> None:
    # the same window with and without its sidebar, nothing else changed: not a tone edit
    with_panel, without = reduced(screen()), reduced(screen(panel=1.0))
    assert clip_levels(without, with_panel) is None
    x, y = match_clipping(without, with_panel)
    assert x is without and y is with_panel


def test_a_clip_as_a_table_for_eight_bit_images() -> None:
    clip = Clip(side=0, level=0.8)
    table = clip.table()
    assert table[100] == 100 and table[204] == 255 and table[255] == 255
    stretched = clip.table(stretch=True)
    assert stretched[100] == round(100 / 0.8) and stretched[204] == 255


def test_a_small_photo_brightened_past_white_is_clipped_without_flat_mid_tones() -> None:
    # a 32×32 photo: a bright sky (clipped by the edit) and a textured bird with no flat mid-tone at all
    rng = np.random.default_rng(1)
    photo = np.full((32, 32), 0.95, np.float32)
    photo[10:24, 8:22] = rng.uniform(0.2, 0.7, (14, 14))
    copy = np.clip(photo * 1.12, 0, 1)
    clip = clip_levels(copy, photo)
    assert clip is not None and clip.side == 1 and 0.8 <= clip.level <= 0.95
    # the same bird on a sky that is simply whiter, nothing else changed: not a tone edit
    whiter = np.where(photo == np.float32(0.95), np.float32(1.0), photo)
    assert clip_levels(whiter, photo) is None


@pytest.mark.parametrize("channels", [1, 3])
def test_the_common_gain_is_numpys_nanmedian_of_the_channels_gains(channels: int) -> None:
    rng = np.random.default_rng(channels)
    gains = rng.random((2000, channels, 1)).astype(np.float32)
    gains[rng.random(gains.shape) < 0.3] = np.nan  # a flat channel has no gain of its own
    gains[np.isnan(gains).all(1)[:, 0]] = 1.0
    assert np.array_equal(_nanmedian_channels(gains), np.nanmedian(gains, axis=1, keepdims=True))
