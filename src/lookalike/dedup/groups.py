"""Duplicate groups of files from the verified pairs of their pictures: the keeper ranking applied
(:mod:`~lookalike.dedup.keeper`, each file's quality read once), every member described against its keeper
(scores, relation, boxes), exact copies beside them, reference folders kept as keepers. The graph step —
which nodes may form a group — is :mod:`~lookalike.dedup.grouping`'s."""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.dedup.borders import WHOLE, Box, box_area
from lookalike.dedup.decisions import pair_key
from lookalike.dedup.fine import FineMatch
from lookalike.dedup.grouping import components, keeper_first_groups
from lookalike.dedup.judge import Judge, Pair
from lookalike.dedup.keeper import KeeperFacts, KeepPolicy, kept_because, rank
from lookalike.dedup.orientation import ALL, IDENTITY
from lookalike.dedup.quality import UNKNOWN_FILE, FileQuality, made_from_jpeg, read_quality
from lookalike.dedup.reading import FileFacts, fork_processes
from lookalike.dedup.results import DuplicateGroup, Member
from lookalike.errors import ImageError
from lookalike.forked import forked_map
from lookalike.hashing import file_sha256

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["GroupBuilder", "relation_hints"]

# A turn shows in the relation from this many degrees on.
TURN_SHOWN = 0.3
#: Families of look-alikes (verified pairs' connected components) of up to this many nodes have all their
#: pairs coarse-checked at once before grouping (keeper-first grouping asks for most of them).
FAMILY_CHECKED = 128
#: Groups of up to this many files have each lossless file checked against each JPEG (made from it?).
MADE_FROM_JPEG_UP_TO = 16


class GroupBuilder:
    """Duplicate groups of files from verified pairs of nodes: keeper-first groups ranked by ``policy``,
    exact copies beside them; with reference nodes, only new files grouped under a reference keeper."""

    def __init__(
        self,
        files: list[FileFacts],
        content: list[int],
        nodes: list[int],
        judge: Judge,
        policy: KeepPolicy,
        ref_files: set[int] | None,
    ) -> None:
        import numpy as np

        self.files, self.judge, self.policy, self.ref_files = files, judge, policy, ref_files
        node_of = {c: n for n, c in enumerate(nodes)}
        self.files_of: dict[int, list[int]] = {}
        for f_index, c in enumerate(content):
            self.files_of.setdefault(node_of[c], []).append(f_index)
        self.node_ref: npt.NDArray[np.bool_] | None = None
        if ref_files is not None:  # a node is a reference when it holds a reference file
            self.node_ref = np.asarray(
                [any(i in ref_files for i in self.files_of[n]) for n in range(len(nodes))]
            )
        self.quality: dict[int, FileQuality] = {}
        self.area: dict[int, float] = {}  # node → share of its image that shows a picture copies share
        self._derived: set[tuple[int, int]] = set()  # (lossless, JPEG) file pairs checked
        self.apart: set[Pair] = set()  # node pairs a review decision keeps apart
        self.preferred: set[int] = set()  # nodes of files chosen as keepers

    def apply_decisions(
        self, verified: Sequence[Pair], ignore: Collection[tuple[str, str]], prefer: Collection[str]
    ) -> tuple[list[Pair], list[tuple[Path, Path]]]:
        """``verified`` less the pairs a review decision keeps apart, and those pairs as files. Hashes only
        the files of verified pairs (and of exact copies, whose node may hold a chosen keeper)."""
        wanted = {n for p in verified for n in p} | {n for n, f in self.files_of.items() if len(f) > 1}
        digest: dict[int, str | None] = {}
        for n in sorted(wanted):
            try:
                digest[n] = file_sha256(self.files[self.files_of[n][0]].path)
            except OSError:
                digest[n] = None
        keep_apart = {pair_key(a, b) for a, b in ignore}
        chosen = set(prefer)
        self.preferred = {n for n, d in digest.items() if d is not None and d in chosen}
        kept: list[Pair] = []
        ignored: list[tuple[Path, Path]] = []
        for a, b in verified:
            da, db = digest.get(a), digest.get(b)
            if da is not None and db is not None and pair_key(da, db) in keep_apart:
                self.apart.add((min(a, b), max(a, b)))
                ignored.append((self.files[self.files_of[a][0]].path, self.files[self.files_of[b][0]].path))
            else:
                kept.append((a, b))
        return kept, ignored

    def _duplicate(self, i: int, j: int) -> bool:
        return (min(i, j), max(i, j)) not in self.apart and self.judge.duplicate(i, j)

    def _picture_area(self, verified: Sequence[Pair]) -> None:
        """For each node of a verified pair, the share of its image inside its content box or a region a
        copy shows — what is picture, not an added border (a page's own margin counts when a copy shows
        it)."""
        for a, b in verified:
            ra, rb = self.judge.fine[(a, b)].regions()
            for n, region in ((a, ra), (b, rb)):
                box = self.files[self.files_of[n][0]].content
                self.area[n] = max(self.area.get(n, 0.0), _union_area(box, region))

    def _read_qualities(self, nodes: set[int]) -> None:
        """The quality facts of every file of ``nodes``, read on a thread pool, or many small files in
        forked processes (each file's header, and its pixels for the sharpness)."""

        def one(f_index: int) -> FileQuality:
            f = self.files[f_index]
            try:
                return read_quality(f.path, box=f.content)
            except ImageError:
                return UNKNOWN_FILE

        todo = sorted(i for n in nodes for i in self.files_of[n] if i not in self.quality)
        processes = fork_processes([self.files[i].path for i in todo])
        if processes:  # many small files: the GIL would hold threads to one core
            self.quality.update(zip(todo, forked_map(one, todo, processes=processes, chunk=256), strict=True))
            return
        with ThreadPoolExecutor(max(1, min(8, (os.cpu_count() or 1) + 2))) as pool:
            self.quality.update(zip(todo, pool.map(one, todo), strict=True))

    def _keeper_facts(self, f_index: int, node: int, most: float = 1.0) -> KeeperFacts:
        """The ranking's facts of a file; its picture's share of the file relative to ``most``, the largest
        share among the files ranked with it (a page's own margin is no added border when its copies keep
        it too)."""
        f = self.files[f_index]
        if f_index not in self.quality:
            try:
                self.quality[f_index] = read_quality(f.path, box=f.content)
            except ImageError:
                self.quality[f_index] = UNKNOWN_FILE
        content = self._area(node) / max(most, 1e-9)
        return KeeperFacts(
            f.path,
            f.width,
            f.height,
            f.bytes,
            f.mtime,
            min(1.0, content),
            self.quality[f_index],
            margin=f.content != WHOLE,
        )

    def _mark_made_from_jpeg(self, file_ids: list[int]) -> None:
        """A lossless file among ``file_ids`` whose pixels are a fixed function of a JPEG among them
        (:func:`~lookalike.dedup.quality.made_from_jpeg`: a PNG brightened or framed from the JPEG, whose
        block grid is too faint to see) is ranked as that JPEG: made from a JPEG, of its quality. Checked
        once a pair, in groups of up to :data:`MADE_FROM_JPEG_UP_TO` files."""
        if len(file_ids) > MADE_FROM_JPEG_UP_TO:
            return
        for i in file_ids:
            qi = self.quality.get(i)
            if qi is None or not qi.clean_lossless:
                continue
            for k in file_ids:
                qk = self.quality.get(k)
                if qk is None or qk.format != "JPEG" or qk.quality is None or (i, k) in self._derived:
                    continue
                self._derived.add((i, k))
                if made_from_jpeg(self.files[i].path, self.files[k].path, self.files[i].content):
                    self.quality[i] = replace(qi, from_jpeg=True, quality=qk.quality)
                    break

    def _area(self, node: int) -> float:
        return self.area.get(node, box_area(self.files[self.files_of[node][0]].content))

    def _ranked_files(self, node: int) -> list[int]:
        """The files of a node (same bytes), best first."""
        fs = self.files_of[node]
        if len(fs) == 1:
            return fs
        facts = [self._keeper_facts(i, node) for i in fs]
        return [fs[i] for i in rank(facts, self.policy)]

    def _rank_nodes(self, ns: list[int]) -> list[int]:
        """Nodes best first, each by its best file; reference nodes before all others."""
        best = [self._ranked_files(n)[0] for n in ns]
        self._mark_made_from_jpeg(best)
        most = max(self._area(n) for n in ns)
        order = rank([self._keeper_facts(f, n, most) for f, n in zip(best, ns, strict=True)], self.policy)
        ranked = [ns[i] for i in order]
        if self.preferred:  # files chosen as keepers first
            ranked = [n for n in ranked if n in self.preferred] + [
                n for n in ranked if n not in self.preferred
            ]
        if self.node_ref is not None:
            ranked = [n for n in ranked if self.node_ref[n]] + [n for n in ranked if not self.node_ref[n]]
        return ranked

    def groups(self, verified: Sequence[Pair]) -> list[DuplicateGroup]:
        """Groups of files, largest first: keeper-first groups of verified nodes, exact copies beside them."""
        if self.node_ref is not None:
            verified = [p for p in verified if self.node_ref[p[0]] != self.node_ref[p[1]]]
        self._picture_area(verified)
        self._read_qualities(
            {n for p in verified for n in p} | {n for n, f in self.files_of.items() if len(f) > 1}
        )
        if self.node_ref is None:
            # the pairs within a family of look-alikes that no candidate joined, checked together
            self.judge.check_pairs(
                [
                    (a, b)
                    for c in components(len(self.judge.paths), verified)
                    if len(c) <= FAMILY_CHECKED
                    for i, a in enumerate(c)
                    for b in c[i + 1 :]
                ]
            )
            node_groups = keeper_first_groups(
                len(self.judge.paths), verified, self._rank_nodes, self._duplicate, self.judge.shown_by
            )
        else:
            node_groups = self._reference_groups(verified)
        grouped = {n for g in node_groups for n in g}
        copies_only = [
            [n]
            for n, fs in self.files_of.items()
            if len(fs) > 1 and n not in grouped and self._copies_count(n)
        ]
        out = [self._group(g) for g in node_groups + copies_only]
        out.sort(key=lambda g: (-len(g.members), str(g.keeper)))
        return out

    def _copies_count(self, node: int) -> bool:
        """Whether exact copies within one node make a group: always, except with reference folders, where
        only a node holding both a reference file and a new file does."""
        if self.ref_files is None:
            return True
        return len({i in self.ref_files for i in self.files_of[node]}) == 2

    def _reference_groups(self, verified: Sequence[Pair]) -> list[list[int]]:
        """Each new node under the reference node it shows (:meth:`Judge.shown_by`), else the one it
        duplicates most alike (two reference copies of one picture); reference nodes keep."""
        assert self.node_ref is not None
        refs_of: dict[int, list[int]] = {}
        for a, b in verified:
            ref, new = (a, b) if self.node_ref[a] else (b, a)
            refs_of.setdefault(new, []).append(ref)
        by_keeper: dict[int, list[int]] = {}
        for new, refs in sorted(refs_of.items()):  # the reference picture it shows, else the most alike
            shown = self.judge.shown_by(new, sorted(refs))
            best = (
                shown
                if shown is not None
                else max(sorted(refs), key=functools.partial(self._likeness_to, new))
            )
            by_keeper.setdefault(best, []).append(new)
        return [[k, *news] for k, news in sorted(by_keeper.items())]

    def _likeness_to(self, new: int, ref: int) -> float:
        return self.judge.likeness(ref, new)

    def _group(self, node_group: list[int]) -> DuplicateGroup:
        keeper_node = node_group[0]
        file_ids = self._ranked_files(keeper_node)
        if self.ref_files is not None:
            file_ids = [i for i in file_ids if i in self.ref_files] + [
                i for i in file_ids if i not in self.ref_files
            ]
        keeper = file_ids[0]
        rows = [self._member(keeper, None, keeper=True)]
        rows += [self._member(i, None, keeper=False) for i in file_ids[1:]]
        for n in node_group[1:]:
            for i in self._ranked_files(n):
                rows.append(self._member(i, (keeper_node, n), keeper=False))
        ranked = [keeper_node, *node_group[1:]]
        if self.ref_files is not None:
            why = "reference copy"
        elif keeper_node in self.preferred:
            why = "chosen as the keeper in a review"
        else:
            why = self._why(ranked, file_ids)
        return DuplicateGroup(tuple(rows), why)

    def _why(self, ranked_nodes: list[int], keeper_files: list[int]) -> str:
        """Why the keeper beat the runner-up (another node, else an exact copy of the same bytes)."""
        if len(ranked_nodes) > 1:
            best = [keeper_files[0]] + [self._ranked_files(n)[0] for n in ranked_nodes[1:]]
            most = max(self._area(n) for n in ranked_nodes)
            facts = [self._keeper_facts(f, n, most) for f, n in zip(best, ranked_nodes, strict=True)]
            return kept_because(facts, rank(facts, self.policy), self.policy)
        facts = [self._keeper_facts(f, ranked_nodes[0]) for f in keeper_files]
        return "same bytes; " + kept_because(facts, list(range(len(facts))), self.policy)

    def _member(self, f_index: int, pair: tuple[int, int] | None, *, keeper: bool) -> Member:
        f = self.files[f_index]
        reference = self.ref_files is not None and f_index in self.ref_files
        file = partial(Member, f.path, f.width, f.height, f.bytes, f.mtime, keeper, reference=reference)
        if pair is None:  # the keeper, or an exact copy of it
            return file(ncc=1.0, rmse=0.0, hints=() if keeper else ("exact",))
        keeper_node = pair[0]
        p = (min(pair), max(pair))
        c, fm = self.judge.best_coarse(p).match, self.judge.fine[p]
        # fm turns the pair's b to look like its a; relation: how the keeper turns into this file
        to_member = fm.orientation.inverse if keeper_node == p[0] else fm.orientation
        ra, rb = fm.regions()
        keeper_box, box = (ra, rb) if keeper_node == p[0] else (rb, ra)
        keeper_facts = self.files[self._ranked_files(keeper_node)[0]]
        return file(
            ncc=c.ncc,
            rmse=c.rmse,
            hints=relation_hints(keeper_facts, f, fm, to_member.code, other_is_a=keeper_node != p[0]),
            ssim=fm.ssim,
            colour=fm.colour,
            detail=fm.detail,
            orientation=to_member,
            angle=fm.angle if keeper_node == p[0] else -fm.angle,
            box=box,
            keeper_box=keeper_box,
        )


def _union_area(a: Box, b: Box) -> float:
    """The area of the union of two boxes (fractions)."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return box_area(a) + box_area(b) - inter


def relation_hints(
    keeper: FileFacts, other: FileFacts, match: FineMatch, code: int, other_is_a: bool
) -> tuple[str, ...]:
    """What the difference between the keeper and another file looks like, from the refined alignment."""
    hints = []
    if code != IDENTITY.code:
        hints.append(str(ALL[code]))
    if abs(match.angle) >= TURN_SHOWN:
        hints.append(f"turned {abs(match.angle):.1f}°")
    more = match.shows_more()
    if more and (more == "a") != other_is_a:
        hints.append("cropped")
    elif more:
        view = match.view_a if other_is_a else match.view_b
        hints.append("border added" if view != WHOLE else "shows more")
    if not hints and keeper.width * keeper.height != other.width * other.height:
        hints.append("resized")
    return tuple(hints)
