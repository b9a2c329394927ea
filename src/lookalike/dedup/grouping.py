"""Groups that cannot grow by resemblance: every member is a verified duplicate of the keeper itself.

Verified pairs only say which images may belong together (their connected components). Within a component
the best image by the keeper ranking (:mod:`~lookalike.dedup.keeper`) becomes a keeper, and every other
image joins it only if it is a duplicate of that keeper (checked if the pair was not a candidate); the rest
start again with the best of them as the next keeper. A chain of look-alikes (A≈B≈C, A≠C) thus never makes
one group, and a page that resembles another page's duplicate does not join it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


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
    rank: Callable[[list[int]], list[int]],
    duplicate: Callable[[int, int], bool],
    shown_by: Callable[[int, list[int]], int | None] | None = None,
) -> list[list[int]]:
    """Groups as lists of nodes, keeper first, from the ``verified`` pairs among ``n`` nodes; ``rank``
    orders a list of nodes best first and ``duplicate(keeper, other)`` is the verdict on a pair.

    Keepers are chosen in rank order: a node becomes one unless it duplicates a keeper chosen before it.
    Every other node then joins the keeper it duplicates; when it duplicates several (distinct pictures
    that it cannot tell apart at the fine check's resolution — a small copy of one of two receipts whose
    totals differ), ``shown_by(node, keepers)`` names the one it shows, and a node it cannot place joins
    none: a distinct file is never put in a group (default: the first keeper in rank order).
    """
    groups: list[list[int]] = []
    for component in components(n, verified):
        ranked = rank(sorted(component))
        keepers: list[int] = []
        for j in ranked:
            if not any(duplicate(k, j) for k in keepers):
                keepers.append(j)
        members: dict[int, list[int]] = {k: [] for k in keepers}
        for j in ranked:
            if j in members:
                continue
            matches = [k for k in keepers if duplicate(k, j)]
            best = matches[0] if shown_by is None or len(matches) == 1 else shown_by(j, matches)
            if best is not None:
                members[best].append(j)
        groups += [[k, *members[k]] for k in keepers if members[k]]
    return groups
