"""What a duplicate search returns: a member's recorded scores against a set of limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lookalike.dedup import Strictness
from lookalike.dedup.results import Member

STRICT = Strictness.named("strict")
# a copy that passed ``normal`` with room to spare: within ``strict`` too
CLOSE = Member(
    Path("copy.jpg"), 32, 32, 900, 0.0, False, ncc=0.99, rmse=0.02, ssim=0.95, colour=0.01, detail=0.9
)


def test_a_copy_whose_scores_meet_the_limits_is_within_them() -> None:
    assert CLOSE.within(STRICT)


@pytest.mark.parametrize(
    ("score", "value"),
    [("ncc", 0.90), ("rmse", 0.07), ("ssim", 0.85), ("colour", 0.05), ("detail", 0.55)],
)
def test_one_score_past_its_limit_puts_a_copy_outside_them(score: str, value: float) -> None:
    assert not dataclasses.replace(CLOSE, **{score: value}).within(STRICT)
    assert dataclasses.replace(CLOSE, **{score: value}).within(Strictness.named("loose"))
