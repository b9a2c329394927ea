"""Keeper-first groups (lookalike.dedup.grouping): no chains, and a file that duplicates two keepers joins
the one it shows, or none when it cannot tell."""

from __future__ import annotations

from lookalike.dedup.grouping import components, keeper_first_groups


def test_components_are_the_connected_pairs() -> None:
    assert sorted(map(sorted, components(6, [(0, 1), (1, 2), (4, 5)]))) == [[0, 1, 2], [4, 5]]


def test_a_chain_does_not_make_one_group() -> None:
    # 0 ≈ 1 ≈ 2 but 0 ≠ 2: 1 joins 0 (ranked first), 2 stays alone
    dup = {(0, 1), (1, 2)}
    groups = keeper_first_groups(3, sorted(dup), sorted, lambda a, b: (min(a, b), max(a, b)) in dup)
    assert groups == [[0, 1]]


def test_a_file_like_two_keepers_joins_the_one_it_shows() -> None:
    # 0 and 1 are two receipts of one shop (distinct); 2 is a small copy of 1 that also passes against 0
    dup = {(0, 2), (1, 2)}

    def duplicate(a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in dup

    asked: list[tuple[int, list[int]]] = []

    def shown_by(j: int, keepers: list[int]) -> int | None:
        asked.append((j, keepers))
        return 1

    assert keeper_first_groups(3, sorted(dup), sorted, duplicate, shown_by) == [
        [1, 2]
    ]  # although 0 ranks first
    assert asked == [(2, [0, 1])]
    assert keeper_first_groups(3, sorted(dup), sorted, duplicate) == [[0, 2]]  # without shown_by: rank


def test_a_file_that_cannot_tell_two_keepers_apart_joins_neither() -> None:
    dup = {(0, 2), (1, 2)}
    groups = keeper_first_groups(
        3, sorted(dup), sorted, lambda a, b: (min(a, b), max(a, b)) in dup, lambda j, ks: None
    )
    assert groups == []
