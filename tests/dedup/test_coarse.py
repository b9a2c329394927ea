"""The coarse check (lookalike.dedup.coarse): the best alignment of two thumbnails over the eight
orientations and the crop boxes, computed view by view, agrees with sampling each turned picture directly."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.dedup import coarse
from lookalike.dedup.orientation import ALL, oriented
from lookalike.dedup.strictness import STRICTNESS

coarse_limits = STRICTNESS["normal"]


def smooth_thumbnails(n: int, seed: int = 0) -> coarse.Thumbnails:
    """``n`` 32×32 RGB thumbnails of blocky random content (structure at several scales), one flat."""
    rng = np.random.default_rng(seed)
    coarse8 = rng.integers(0, 256, (n, 8, 8, 3)).repeat(4, 1).repeat(4, 2)
    fine = rng.integers(-20, 21, (n, 32, 32, 3))
    base = np.clip(coarse8 + fine, 0, 255).astype(np.uint8)
    base[0] = 128  # a flat view
    return coarse.Thumbnails(base)


def direct_ncc(
    thumbs: coarse.Thumbnails, pairs: np.ndarray, boxes: list, crop_a: bool, size: int
) -> np.ndarray:
    """The NCC of each pair with one side cut to each box, sampling the turned picture itself."""
    a, b, codes = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    if crop_a:
        cut = thumbs.views(a, boxes, None, size)
        other = thumbs.views(b, coarse.WHOLE, codes, size)[:, 0]
    else:
        cut = thumbs.views(b, boxes, codes, size)
        other = thumbs.views(a, coarse.WHOLE, None, size)[:, 0]
    u, flat = coarse._unit(cut)
    w, w_flat = coarse._unit(other)
    return np.where(flat & w_flat[:, None], 1.0, np.einsum("pkd,pd->pk", u, w))


@pytest.mark.parametrize("crop_a", [True, False])
@pytest.mark.parametrize(
    ("boxes", "size"),
    [
        (coarse.SPARSE_BOXES, coarse.PREFILTER_SIZE),  # every orientation maps this list onto itself
        ([coarse.CROP_BOXES[k] for k in coarse.NEAR_BOXES[4]], coarse.VERIFY),  # and this one not
        (coarse.WHOLE, coarse.VERIFY),
    ],
)
def test_box_ncc_matches_sampling_each_turned_picture(crop_a: bool, boxes: list, size: int) -> None:
    thumbs = smooth_thumbnails(40)
    rng = np.random.default_rng(1)
    pairs = np.stack([rng.integers(0, 40, 300), rng.integers(0, 40, 300), rng.integers(0, 8, 300)], 1)
    got = coarse._box_ncc(thumbs, pairs, boxes, crop_a, size)
    want = direct_ncc(thumbs, pairs, boxes, crop_a, size)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("code", range(8))
def test_a_turned_crop_is_found_in_its_box_and_orientation(code: int) -> None:
    thumbs = smooth_thumbnails(3, seed=code)
    k = 57  # a crop box well inside the range
    box = coarse.CROP_BOXES[k]
    crop = thumbs.views(np.array([1]), [box], None, 32)[0, 0].reshape(3, 32, 32).transpose(1, 2, 0)
    turned = oriented(np.clip(crop * 255 + 0.5, 0, 255).astype(np.uint8)[None], ALL[code].inverse)[0]
    both = coarse.Thumbnails(np.stack([thumbs.base[1], turned, thumbs.base[2]]))
    # b turned by ALL[code] looks like a's crop: cut a to every box
    found = coarse.verify_all(both, np.array([[0, 1, code], [0, 2, code]]), coarse.CROP_BOXES, cut="a")
    assert found.ncc[0] > 0.97 and found.rmse[0] < coarse_limits.max_rmse
    assert max(abs(u - v) for u, v in zip(coarse.CROP_BOXES[int(found.box[0])], box, strict=True)) <= 0.05
    assert found.ncc[1] < 0.9  # another picture does not


def test_each_box_samples_one_box_per_view_as_views_does() -> None:
    thumbs = smooth_thumbnails(10)
    ix = np.array([1, 2, 3, 4, 5])
    codes = np.array([0, 3, 5, 7, 2])
    boxes = [coarse.CROP_BOXES[j] for j in (0, 9, 40, 77, 125)]
    got = thumbs.each_box(ix, boxes, codes)
    want = np.stack([thumbs.views(ix[i : i + 1], [boxes[i]], codes[i : i + 1])[0, 0] for i in range(5)])
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_flat_view_correlates_with_nothing_but_another_flat_view() -> None:
    thumbs = coarse.Thumbnails(smooth_thumbnails(4).base.copy())
    thumbs.base[3] = 200  # another flat view, brighter
    found = coarse.verify_all(thumbs, np.array([[0, 1, 0], [0, 3, 0]]), coarse.WHOLE)
    assert abs(found.ncc[0]) < 1e-6  # (not the rounding noise of the flat side, scaled up)
    assert found.ncc[1] == 1.0  # both flat: only the RMSE (brightness) decides
    assert found.rmse[1] > coarse_limits.max_rmse
