"""Candidate pairs (lookalike.dedup.candidates): turned and mirrored copies meet their original with the
orientation that undoes the turn; crops meet it through the middle-crop queries; reference groups."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dedup_support import pattern
from lookalike.dedup import candidates
from lookalike.dedup.coarse import Thumbnails
from lookalike.dedup.orientation import ALL


def thumb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR), np.uint8)


def distinct(n: int) -> list[Image.Image]:
    return [pattern(100 + i, (96, 80)) for i in range(n)]


def test_every_orientation_of_a_copy_is_found_with_the_turn_that_undoes_it() -> None:
    originals = distinct(30)
    for o in ALL:
        copy = o.apply_image(originals[7])
        thumbs = Thumbnails.stack([thumb(p) for p in [*originals, copy]])
        found = candidates.find(thumbs, np.arange(31), 5)
        codes = found.code[(found.a == 7) & (found.b == 30)].tolist()
        # a code turns b (the copy) to look like a (the original): the inverse of the edit
        assert o.inverse.code in codes, o
        assert np.array_equal(ALL[o.inverse.code].apply(np.asarray(copy)), np.asarray(originals[7]))


def test_orientations_can_be_limited() -> None:
    originals = distinct(20)
    copy = originals[3].transpose(Image.Transpose.ROTATE_90)
    thumbs = Thumbnails.stack([thumb(p) for p in [*originals, copy]])
    found = candidates.find(thumbs, np.arange(21), 5, orientations=(0,))
    assert set(found.code.tolist()) <= {0}


def test_a_deep_crop_meets_its_original_through_the_middle_crop_query() -> None:
    originals = distinct(60)
    src = originals[11]
    crop = src.crop((8, 6, 88, 74))  # 83% × 85%, off-centre
    thumbs = Thumbnails.stack([thumb(p) for p in [*originals, crop]])
    found = candidates.find(thumbs, np.arange(61), 3)
    assert 11 in found.a[found.b == 60].tolist()


def test_only_pairs_across_groups_with_reference_folders() -> None:
    originals = distinct(12)
    thumbs = Thumbnails.stack([thumb(p) for p in originals + originals[:2]])
    groups = np.asarray([0] * 12 + [1, 1])
    found = candidates.find(thumbs, np.arange(14), 4, groups=groups)
    assert len(found) and (groups[found.a] != groups[found.b]).all()
    assert (0, 12) in set(zip(found.a.tolist(), found.b.tolist(), strict=True))


def test_past_the_exact_limit_an_inverted_file_finds_the_same_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    originals = distinct(60)
    copies = [img.transpose(Image.Transpose.ROTATE_90) for img in originals[:10]]
    thumbs = Thumbnails.stack([thumb(img) for img in originals + copies])
    whole = np.arange(len(thumbs.base))

    def copy_pairs(found: candidates.Candidates) -> set[tuple[int, int]]:
        return {(a, b) for a, b in zip(found.a.tolist(), found.b.tolist(), strict=True) if b - a == 60}

    exact = candidates.find(thumbs, whole, 5)
    monkeypatch.setattr(candidates, "EXACT_UP_TO", 20)  # 70 views: the inverted file
    monkeypatch.setattr(candidates, "LIST_ROWS", 8)
    approximate = candidates.find(thumbs, whole, 5)
    assert copy_pairs(exact) == copy_pairs(approximate) == {(i, i + 60) for i in range(10)}
