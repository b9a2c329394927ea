"""Groups that cannot grow by resemblance: every member is a verified duplicate of the keeper itself.

Verified pairs only say which images may belong together (their connected components). Within a component
the best image by the keeper order (most pixels, then bytes, then oldest) becomes a keeper, and every other
image joins it only if it is a duplicate of that keeper (checked if the pair was not a candidate); the rest
start again with the best of them as the next keeper. A chain of look-alikes (A≈B≈C, A≠C) thus never makes
one group, and a page that resembles another page's duplicate does not join it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def components(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """The connected components with more than one node of the graph on ``n`` nodes with edges ``pairs``."""
    root = list(range(n))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            root[rb] = ra
    found: dict[int, list[int]] = {}
    for i in range(n):
        found.setdefault(find(i), []).append(i)
    return [c for c in found.values() if len(c) > 1]


def keeper_first_groups(
    n: int,
    verified: Sequence[tuple[int, int]],
    order: Callable[[int], Any],
    duplicate: Callable[[int, int], bool],
) -> list[list[int]]:
    """Groups as lists of nodes, keeper first, from the ``verified`` pairs among ``n`` nodes; ``order`` is
    the keeper sort key of a node and ``duplicate(keeper, other)`` the verdict on a pair."""
    groups: list[list[int]] = []
    for component in components(n, verified):
        remaining = sorted(component, key=order)
        while len(remaining) > 1:
            keeper, rest = remaining[0], remaining[1:]
            members = [j for j in rest if duplicate(keeper, j)]
            if members:
                groups.append([keeper, *members])
            joined = set(members)
            remaining = [j for j in rest if j not in joined]
    return groups
