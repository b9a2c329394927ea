"""Tone edits (lookalike.dedup.photometric): brightness, contrast, gamma and casts of about 15% are
undone by the bounded tone map; halved contrast and other colours are not; clipping is matched."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.dedup.photometric import match_clipping, match_tone


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
