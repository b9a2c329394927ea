"""Duplicate groups of files: the words a group uses for how a copy relates to its keeper."""

from __future__ import annotations

from pathlib import Path

from lookalike.dedup.borders import WHOLE
from lookalike.dedup.fine import FineMatch
from lookalike.dedup.groups import relation_hints
from lookalike.dedup.orientation import IDENTITY, ROTATE_180
from lookalike.dedup.reading import FileFacts

KEEPER = FileFacts(Path("keeper.png"), 640, 480, 90_000, 0.0)


def aligned(angle: float = 0.0) -> FineMatch:
    return FineMatch(0.95, 0.01, (64, 48), WHOLE, angle=angle)


def test_a_smaller_copy_that_shows_the_same_is_resized() -> None:
    small = FileFacts(Path("small.jpg"), 320, 240, 9_000, 0.0)
    assert relation_hints(KEEPER, small, aligned(), IDENTITY.code, other_is_a=False) == ("resized",)


def test_a_same_size_copy_with_nothing_changed_has_no_words() -> None:
    copy = FileFacts(Path("copy.jpg"), 640, 480, 40_000, 0.0)
    assert relation_hints(KEEPER, copy, aligned(), IDENTITY.code, other_is_a=False) == ()


def test_a_turn_and_a_small_rotation_are_named_and_a_turn_below_the_line_is_not() -> None:
    copy = FileFacts(Path("scan.jpg"), 640, 480, 40_000, 0.0)
    hints = relation_hints(KEEPER, copy, aligned(angle=-1.2), ROTATE_180.code, other_is_a=False)
    assert hints == (str(ROTATE_180), "turned 1.2°")
    assert relation_hints(KEEPER, copy, aligned(angle=0.2), IDENTITY.code, other_is_a=False) == ()
