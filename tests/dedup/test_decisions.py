"""Review decisions: stored by content hash, honoured by find_duplicates, and taken back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dedup_support import duplicates_tree, pattern, sha
from lookalike.dedup import find_duplicates, verify_pair
from lookalike.dedup.decisions import DECISIONS_NAME, Decisions, decisions_location, pair_key
from lookalike.errors import LookalikeError


def test_a_pair_marked_not_duplicates_is_never_grouped_and_comes_back_when_forgotten(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    decisions = Decisions(decisions_location(photos))
    assert decisions.ignored_pairs() == set()
    assert not (photos / ".lookalike").exists()  # reading creates nothing
    one, dup = photos / "x" / "one.png", photos / "x" / "dup.png"
    decisions.ignore(sha(one), sha(dup), a_path="x/one.png", b_path="x/dup.png")
    result = find_duplicates(photos, ignore=decisions.ignored_pairs())
    assert [sorted(p.name for p in g.paths) for g in result.groups if one in g.paths] == []
    assert result.group_of(dup) is None
    assert [(a.name, b.name) for a, b in result.ignored] in (
        [("one.png", "dup.png")],
        [("dup.png", "one.png")],
    )
    assert result.to_dict()["ignored"][0].keys() == {"a", "b"}
    assert len(result.groups) == 2  # the other groups stand
    assert decisions.forget(sha(dup), sha(one))  # either order
    assert not decisions.forget(sha(dup), sha(one))
    again = find_duplicates(photos, ignore=decisions.ignored_pairs())
    assert again.group_of(dup) is not None and not again.ignored


def test_a_decision_follows_the_file_through_a_rename(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    decisions = Decisions(tmp_path / "decisions")
    decisions.ignore(sha(photos / "y" / "two.png"), sha(photos / "y" / "dup.png"))
    (photos / "y" / "dup.png").rename(photos / "renamed.png")
    result = find_duplicates(photos, ignore=decisions.ignored_pairs())
    assert result.group_of(photos / "renamed.png") is None
    assert result.group_of(photos / "y" / "two.png") is None


def test_a_chosen_keeper_keeps_its_group(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    small = photos / "x" / "dup.png"
    plain = find_duplicates(photos)
    assert plain.group_of(small).keeper == photos / "x" / "one.png"  # the larger file, by the rule
    decisions = Decisions(tmp_path / "d")
    decisions.keep(sha(small), path="x/dup.png")
    chosen = find_duplicates(photos, prefer=decisions.keepers())
    group = chosen.group_of(small)
    assert group.keeper == small and group.kept_because == "chosen as the keeper in a review"
    assert [m.path for m in group.duplicates] == [photos / "x" / "one.png"]
    assert decisions.unkeep(sha(small))
    assert find_duplicates(photos, prefer=decisions.keepers()).group_of(small).keeper != small


def test_a_chosen_keeper_takes_only_its_own_verified_duplicates(tmp_path: Path) -> None:
    # two distinct crops of one picture: each duplicates the whole, not each other
    folder = tmp_path / "p"
    folder.mkdir()
    whole = pattern(7, (400, 400))
    whole.save(folder / "whole.png")
    whole.crop((0, 0, 350, 350)).save(folder / "top-left.png")
    whole.crop((50, 50, 400, 400)).save(folder / "bottom-right.png")
    plain = find_duplicates(folder)
    assert len(plain.groups) == 1 and plain.groups[0].keeper == folder / "whole.png"
    decisions = Decisions(tmp_path / "d")
    decisions.keep(sha(folder / "top-left.png"))
    assert not verify_pair(folder / "top-left.png", folder / "bottom-right.png").duplicate
    chosen = find_duplicates(folder, prefer=decisions.keepers())
    # the other crop is no duplicate of the chosen keeper: it is in no group, so it never moves
    assert [[m.path.name for m in g.members] for g in chosen.groups] == [["top-left.png", "whole.png"]]


def test_decisions_are_shared_by_copies_and_survive_reopening(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    location = tmp_path / "index"
    Decisions(location).ignore(sha(photos / "three.png"), sha(photos / "three small.png"))
    shutil.copyfile(photos / "three small.png", photos / "three copy.png")
    reopened = Decisions(location)
    assert (location / DECISIONS_NAME).is_file()
    result = find_duplicates(photos, ignore=reopened.ignored_pairs())
    group = result.group_of(photos / "three.png")
    assert group is None or photos / "three small.png" not in group.paths
    # the two copies of the small file, same bytes, still group as exact copies
    copies = result.group_of(photos / "three copy.png")
    assert copies is not None and {p.name for p in copies.paths} == {"three small.png", "three copy.png"}
    assert [d.kind for d in reopened.all()] == ["distinct"]


def test_bad_decisions_are_refused_in_one_line(tmp_path: Path) -> None:
    d = Decisions(tmp_path)
    with pytest.raises(LookalikeError, match="not a SHA-256"):
        d.ignore("abc", "0" * 64)
    with pytest.raises(LookalikeError, match="same bytes"):
        d.ignore("a" * 64, "A" * 64)
    assert pair_key("b", "a") == ("a", "b")


def test_a_damaged_decisions_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / DECISIONS_NAME).write_bytes(b"not a database" * 100)
    with pytest.raises(LookalikeError, match="decisions"):
        Decisions(tmp_path).ignored_pairs()
