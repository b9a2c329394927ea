"""The thresholds in one object (lookalike.dedup.strictness): presets by name, one threshold changed, bad
values as one-line errors, and the old threshold keywords still working with a DeprecationWarning."""

from __future__ import annotations

from pathlib import Path

import pytest

from dedup_support import pattern
from lookalike.dedup import STRICTNESS, Strictness, find_duplicates, verify_pair
from lookalike.errors import LookalikeError


def test_presets_by_name_and_one_threshold_changed() -> None:
    normal = Strictness.named("normal")
    assert normal is STRICTNESS["normal"]
    tighter = normal.replace(min_ssim=0.95, max_rmse=None)
    assert tighter.min_ssim == 0.95 and tighter.max_rmse == normal.max_rmse
    assert normal.min_ssim == 0.8  # the preset itself is untouched
    with pytest.raises(LookalikeError, match="'fussy' is not one of strict, normal, loose"):
        Strictness.named("fussy")
    with pytest.raises(LookalikeError, match=r"min_ssim 1.5 must be in \(0, 1\]"):
        normal.replace(min_ssim=1.5)
    with pytest.raises(TypeError, match="unknown threshold 'min_sim'"):
        normal.replace(min_sim=0.9)


def test_find_and_verify_take_the_object_or_its_name(tmp_path: Path) -> None:
    pattern(5).save(tmp_path / "a.png")
    pattern(5).save(tmp_path / "a.jpg", quality=60)
    assert verify_pair(tmp_path / "a.png", tmp_path / "a.jpg", strictness="strict").duplicate
    never = Strictness.named("normal").replace(min_ssim=1.0, min_detail=1.0)
    assert not verify_pair(tmp_path / "a.png", tmp_path / "a.jpg", strictness=never).duplicate
    assert find_duplicates(tmp_path, strictness=never).groups == []
    assert find_duplicates(tmp_path, strictness=never).settings["strictness"] == "custom"


def test_old_threshold_keywords_warn_and_still_work(tmp_path: Path) -> None:
    pattern(6).save(tmp_path / "a.png")
    pattern(6).save(tmp_path / "a.jpg", quality=60)
    with pytest.warns(DeprecationWarning, match="min_ssim"):
        result = find_duplicates(tmp_path, min_ssim=1.0, min_detail=1.0)
    assert result.groups == [] and result.settings["min_ssim"] == 1.0
    with pytest.warns(DeprecationWarning):
        assert not verify_pair(tmp_path / "a.png", tmp_path / "a.jpg", min_ssim=1.0).duplicate
