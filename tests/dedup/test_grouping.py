"""Keeper-first groups (lookalike.dedup.grouping): no chains, and a file that duplicates two keepers joins
the one it matches best."""

from __future__ import annotations

from lookalike.dedup.grouping import components, keeper_first_groups


def test_components_are_the_connected_pairs() -> None:
    assert sorted(map(sorted, components(6, [(0, 1), (1, 2), (4, 5)]))) == [[0, 1, 2], [4, 5]]


def test_a_chain_does_not_make_one_group() -> None:
    # 0 ≈ 1 ≈ 2 but 0 ≠ 2: 1 joins 0 (ranked first), 2 stays alone
    dup = {(0, 1), (1, 2)}
    groups = keeper_first_groups(3, sorted(dup), sorted, lambda a, b: (min(a, b), max(a, b)) in dup)
    assert groups == [[0, 1]]


def test_a_file_like_two_keepers_joins_the_one_it_matches_best() -> None:
    # 0 and 1 are two receipts of one shop (distinct); 2 is a small copy of 1 that also passes against 0
    dup = {(0, 2), (1, 2)}
    alike = {(0, 2): 0.90, (1, 2): 0.97}

    def duplicate(a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in dup

    def likeness(a: int, b: int) -> float:
        return alike[(min(a, b), max(a, b))]

    groups = keeper_first_groups(3, sorted(dup), sorted, duplicate, likeness)
    assert groups == [[1, 2]]  # not [[0, 2]], although 0 ranks first
    assert keeper_first_groups(3, sorted(dup), sorted, duplicate) == [[0, 2]]  # without likeness: rank
