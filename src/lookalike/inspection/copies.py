"""Copies and what they mean in a dataset: ``exact_duplicates`` and ``near_duplicates`` (dedup's groups:
the same verification, the same keeper), ``leak`` (a copy in another split, or in a reference folder) and
``label_conflict`` (a copy filed under another class).

Each pair is a group's keeper and one of its copies (dedup verifies every copy against its keeper itself).
A pair gets the most specific kind only: across splits a ``leak``, else under two labels a
``label_conflict``, else a duplicate. A leak or a conflict says more than "alike", so its pair must also
pass dedup's ``strict`` checks (``confirm``; same bytes need no check): on CIFAR-10's training split the
``normal`` checks grouped eight pairs of different birds and aeroplanes on a plain sky, under two labels,
and none of them passes ``strict``. The finding goes on the file to act on: the copy (the keeper is the
best file of the group) for duplicates and conflicts; for a leak, the file outside the training split (or
the reference folder), which is the one that inflates the evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from lookalike.dedup.reading import content_ids
from lookalike.dedup.results import DedupResult, Member
from lookalike.inspection.findings import Finding
from lookalike.inspection.layout import TRAINING, Layout

__all__ = ["Confirm", "copy_findings"]


def _leaking(a: Path, b: Path, layout: Layout) -> tuple[Path, Path]:
    """``(the file the leak is reported on, its copy)``: the one outside the training split or the
    reference folder; the second of the pair when both are (or neither is)."""
    sa, sb = layout.split.get(a) or "", layout.split.get(b) or ""

    def trained(s: str) -> bool:
        return s in TRAINING or s.startswith("against:")

    if trained(sa) and not trained(sb):
        return b, a
    if trained(sb) and not trained(sa):
        return a, b
    return b, a


def _same_bytes(members: Sequence[Member]) -> dict[Path, Path]:
    """For each member with the same bytes as an earlier member of its group, that earlier member (a
    group's exact copies of one another are exact duplicates of each other, whatever their relation to the
    keeper). Files are hashed only when their sizes agree (:func:`~lookalike.dedup.reading.content_ids`)."""
    ids = content_ids(members)
    return {
        m.path: members[first].path
        for i, (m, first) in enumerate(zip(members, ids, strict=True))
        if first != i
    }


def _evidence(m: Member, layout: Layout, path: Path, other: Path, exact: bool) -> dict[str, object]:
    return {
        "relation": "exact" if exact else m.kind,
        "ssim": round(m.ssim, 4),
        "split": layout.split.get(path),
        "other_split": layout.split.get(other),
        "label": layout.label.get(path),
        "other_label": layout.label.get(other),
    }


#: The kinds of copy a pair must also pass the stricter checks for (``confirm``), unless the bytes agree.
ACROSS = ("leak", "label_conflict")


def _kind(keeper: Path, copy: Path, layout: Layout, exact: bool) -> str:
    """The most specific kind of a keeper and its copy: across splits a ``leak``, else under two labels a
    ``label_conflict``, else a duplicate."""
    if (layout.split.get(keeper) or "") != (layout.split.get(copy) or ""):
        return "leak"
    labels = layout.label.get(keeper), layout.label.get(copy)
    if labels[0] and labels[1] and labels[0] != labels[1]:
        return "label_conflict"
    return "exact_duplicates" if exact else "near_duplicates"


#: ``confirm(pairs)``: for each ``(keeper, member)`` of a group, whether the pair also passes the
#: stricter checks a leak or a label conflict must pass.
Confirm = Callable[[Sequence[tuple[Path, Member]]], Sequence[bool]]


def copy_findings(
    result: DedupResult,
    layout: Layout,
    inspected: Collection[Path],
    blank: Collection[Path] = (),
    confirm: Confirm | None = None,
) -> tuple[list[Finding], int]:
    """The copy findings of the inspected files, from the duplicate groups of all files read, and how many
    pairs across splits or labels ``confirm`` turned down (it is asked once, for all of them); pairs of
    two ``blank`` files (near-blank pictures of one colour, reported as ``low_information``) are not
    copies worth a finding."""
    pairs: list[tuple[Path, Member, bool, str]] = []  # (keeper, copy, exact, kind)
    for group in result.groups:
        keeper = group.members[0]
        same = _same_bytes(group.members)
        for m in group.duplicates:
            k = same.get(m.path, keeper.path)
            if k in blank and m.path in blank:
                continue
            exact = "exact" in m.hints or m.path in same
            pairs.append((k, m, exact, _kind(k, m.path, layout, exact)))
    asked = [(k, m) for k, m, exact, kind in pairs if kind in ACROSS and not exact]
    answers = confirm(asked) if confirm else [True] * len(asked)
    refused = {m.path for (_, m), ok in zip(asked, answers, strict=True) if not ok}
    out: list[Finding] = []
    for k, m, exact, kind in pairs:
        c = m.path
        if c in refused:
            continue
        if kind == "leak":
            path, other = _leaking(k, c, layout)
        elif kind == "label_conflict":
            path, other = (c, k) if c in inspected else (k, c)
        else:
            path, other = c, k
        if path in inspected:
            score = 1.0 if exact else round(max(0.0, min(1.0, m.ssim)), 4)
            out.append(Finding(path, kind, score, _evidence(m, layout, path, other, exact), other))
    return out, len(refused)
