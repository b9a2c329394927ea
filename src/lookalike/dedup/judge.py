"""Both checks for pairs of images, each result computed once and kept.

Images are *nodes* (files with the same bytes share one); each node has one or two *views* (the whole
image, and its content box when it has a uniform border), each with a 32×32 colour thumbnail. Candidate
pairs of views (:mod:`~lookalike.dedup.candidates`) go through the coarse check
(:mod:`~lookalike.dedup.coarse`), and the best alignment of each pair of nodes that passes it through the
fine check (:mod:`~lookalike.dedup.fine`).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lookalike.dedup import closeup, coarse, fine, subjects
from lookalike.dedup.borders import WHOLE, Box
from lookalike.dedup.candidates import CANDIDATE, Candidates, _rows
from lookalike.dedup.orientation import ALL, oriented
from lookalike.dedup.reading import read_fine, read_grey
from lookalike.dedup.strictness import Strictness
from lookalike.errors import ImageError
from lookalike.forked import forked_map, processes_for
from lookalike.memory import release_memory

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt
    from PIL import Image

Pair = tuple[int, int]


def _started(f: fine.FineMatch, st: fine.Start) -> bool:
    """Whether fine match ``f`` came from start ``st`` (same orientation, side cut and views)."""
    return (f.orientation, f.cropped_a, f.view_a, f.view_b) == (
        st.orientation,
        st.cropped_a,
        st.view_a,
        st.view_b,
    )


# A pair of views goes on to the coarse crop search only if its 8×8 thumbnails correlate this well in the
# orientation found, as they are or with one side cut to a few spread crops: 98% of crops keeping 75–85% of
# the area do (CIFAR-10, benchmarks/dedup.py), 13% of other candidates ...
CROP_PREFILTER = 0.85
# ... and only if it took one of the first places among a query's neighbours (counting ties as one place):
# 97% of crops keeping 75–85% of the area do, among 10,000 CIFAR-10 images; 40% of other candidates (at
# place 2). Place 3: a crop of a page among the pages of one template (benchmarks/dedup_copies.py).
CROP_PLACE = 3
# The fine check stops on a 64 or 128 px grid for pairs this far below ``min_ssim`` there (aligned
# duplicates score ≥ 0.95 on those grids, distinct pages and screens mostly below 0.6).
GIVE_UP_MARGIN = 0.1
#: Candidates coarse-checked at once (about 150 MB of work arrays at most).
COARSE_ROWS = 1 << 18
#: In forked workers, each part is this fraction of :data:`COARSE_ROWS` over the workers: what a worker
#: holds beside the parent's pages it shares (two workers with half of it each: 150 MB each at 60,000 images).
FORKED_SHARE = 4
#: Rows of pairs no candidate joined scored at once (:meth:`Judge.check_pairs`; about 25 MB).
SCORE_ROWS = 4096
#: A pair the fine check turns down gets a second look from at most this many alignments the candidates
#: did not propose (:meth:`Judge._second_look`).
SECOND_LOOK_STARTS = 3
#: A pair the fine check turns down gets this many alignments read from the pictures' subjects at most
#: (:meth:`Judge.subject_matches`), the best by the coarse check first.
SUBJECT_STARTS = 2
#: Close-up images (grey, up to 1,536 px: ≤ 2.4 MB each) kept for the next pair that needs one.
GREYS_KEPT = 32


@dataclass(frozen=True)
class Views:
    """The views of every node: ``node[v]`` is the node view ``v`` shows and ``box[v]`` its part of that
    image (fractions); ``of[n]`` lists node ``n``'s views, the whole image first."""

    node: npt.NDArray[np.intp]
    box: list[Box]
    of: list[list[int]]

    @classmethod
    def of_nodes(cls, content: Sequence[Box]) -> Views:
        """One view per node, and a second for each node whose content box is not the whole image."""
        import numpy as np

        node: list[int] = []
        box: list[Box] = []
        of: list[list[int]] = []
        for n, c in enumerate(content):
            of.append([len(node)] + ([len(node) + 1] if c != WHOLE else []))
            node += [n] * len(of[-1])
            box += [WHOLE] + ([c] if c != WHOLE else [])
        return cls(np.asarray(node, np.intp), box, of)


@dataclass(frozen=True)
class CoarseResult:
    """The best coarse match of a pair of nodes and the views it was found between."""

    match: coarse.Match
    view_a: int
    view_b: int
    score: float  # the 8×8 correlation of those views in that orientation


class Judge:
    """Both checks for pairs of nodes ``a < b``, each result computed once and kept."""

    def __init__(
        self,
        thumbs: coarse.Thumbnails,
        views: Views,
        fines: list[npt.NDArray[np.uint8] | None],
        paths: list[Path],
        limits: Strictness,
        *,
        orientations: Sequence[int],
        crops: bool,
        sizes: list[tuple[int, int]],
        subject: Sequence[subjects.Subject | None] | None = None,
    ) -> None:
        import numpy as np

        self.thumbs, self.views, self.fines, self.paths = thumbs, views, fines, paths
        # what stands on each node's plain background (subjects.find_subject), None where it has none
        self.subject = list(subject) if subject is not None else [None] * len(paths)
        self.limits, self.orientations, self.crops = limits, tuple(orientations), crops
        self.sizes = sizes
        self._greys: OrderedDict[int, Image.Image] = OrderedDict()
        self._grey_lock = threading.Lock()
        # per pair of nodes, the best coarse match of each pair of their views, best first; and the pairs
        # checked that no alignment lets through
        self.coarse: dict[Pair, list[CoarseResult]] = {}
        self._failed: npt.NDArray[np.int64] = np.zeros(0, np.int64)  # sorted keys a·n + b
        self.fine: dict[Pair, fine.FineMatch] = {}

    # ------------------------------------------------------------------------------------------------------
    # coarse

    def check_coarse(self, cands: Candidates, *, keep_failing: bool = False) -> None:
        """Coarse matches of candidate view pairs: whole views first, the crop search only where that fails
        and the pair might be a crop; per pair of nodes, the best match of each pair of their views that
        passes is kept (with ``keep_failing``, also those that fail: for a verdict on one pair). Checked
        :data:`COARSE_ROWS` candidates at a time, which bounds the memory the check needs — with many, in
        forked processes (:mod:`lookalike.forked`), each a share of that many at a time."""
        import numpy as np

        processes = processes_for(len(cands), COARSE_ROWS) if not keep_failing else 0
        rows = max(1, COARSE_ROWS // (FORKED_SHARE * processes)) if processes else COARSE_ROWS
        parts = _slices(len(cands), rows)

        def matches(sl: slice) -> tuple[list[CoarseResult], npt.NDArray[np.int64]]:
            rank = None if cands.rank is None else cands.rank[sl]
            part = Candidates(cands.a[sl], cands.b[sl], cands.code[sl], cands.score[sl], rank)
            found = self._matches(part, keep_failing)
            if len(cands) > rows:
                release_memory()  # (each part's work arrays: the heap would grow by them part after part)
            return found

        if processes:  # (the views every part samples, made once here for all the workers)
            self.thumbs.whole(coarse.VERIFY)
            self.thumbs.whole(coarse.PREFILTER_SIZE)
        failed: list[npt.NDArray[np.int64]] = []
        results = (
            forked_map(matches, parts, processes=processes, chunk=1) if processes else map(matches, parts)
        )
        for kept, part_failed in results:
            self._keep(kept)
            failed.append(part_failed)
        new = np.concatenate(failed) if failed else np.zeros(0, np.int64)
        if len(new):  # (a union sorts all the failed keys: not for a check that failed none)
            self._failed = np.union1d(self._failed, new)

    def _matches(
        self, cands: Candidates, keep_failing: bool
    ) -> tuple[list[CoarseResult], npt.NDArray[np.int64]]:
        """Checks ``cands`` (see :meth:`check_coarse`): the best match of each candidate that passes (every
        one with ``keep_failing``), and the keys of the pairs of nodes that no candidate of this part let
        through (not all their alignments need be in this part)."""
        import numpy as np

        na, nb = self.views.node[cands.a], self.views.node[cands.b]
        keep = na != nb
        rows = np.stack([cands.a[keep], cands.b[keep], cands.code[keep]], 1)
        scores = cands.score[keep]
        if not len(rows):
            return [], np.zeros(0, np.int64)
        lim = self.limits
        rmse_from = -1.0 if keep_failing else lim.min_ncc
        found = coarse.verify_all(self.thumbs, rows, coarse.WHOLE, rmse_from=rmse_from)
        boxes = np.zeros(len(rows), np.intp)  # the box of CROP_BOXES each row's match is on
        if self.crops:
            failed = ~found.passes(lim.min_ncc, lim.max_rmse)
            if cands.rank is not None:  # a crop is among the few nearest of its original, or the other way
                failed &= cands.rank[keep] <= CROP_PLACE
            self._crop_search(np.flatnonzero(failed), scores, found, boxes, keep_failing)
        passing = found.passes(lim.min_ncc, lim.max_rmse)
        chosen = np.flatnonzero(passing | keep_failing)
        kept = [
            CoarseResult(
                replace(found.match(i), box=int(boxes[i])), int(rows[i, 0]), int(rows[i, 1]), float(scores[i])
            )
            for i in chosen.tolist()
        ]
        rescued = self._by_subjects(rows, scores, np.flatnonzero(~passing))
        kept += rescued
        out = np.zeros(0, np.int64)
        if not keep_failing:  # (with keep_failing every pair checked is in self.coarse)
            pair_of = na[keep].astype(np.int64) * len(self.paths) + nb[keep]
            let_through = [pair_of[chosen]] + [
                np.asarray([self.views.node[c.view_a] * len(self.paths) + self.views.node[c.view_b]])
                for c in rescued
            ]
            out = np.setdiff1d(pair_of, np.concatenate(let_through))
        return kept, out

    def _by_subjects(
        self, rows: npt.NDArray[np.intp], scores: npt.NDArray[np.float32], failed: npt.NDArray[np.intp]
    ) -> list[CoarseResult]:
        """Of candidate ``rows`` ``(view a, view b, code)`` at ``failed``, the pairs of images that pass the
        coarse check, whole image against whole image, at an alignment their subjects imply
        (:mod:`~lookalike.dedup.subjects`: a crop or frame of a plain background, off the crop boxes' grid)
        in the row's orientation — whichever views the row compared (a crop cut through a code's margin
        meets its original content box to content box): the best of each pair and orientation."""
        todo: dict[tuple[int, int, int], int] = {}  # (whole view a, whole view b, code) -> a row of it
        for i in failed.tolist():
            va, vb, code = (int(v) for v in rows[i])
            na, nb = int(self.views.node[va]), int(self.views.node[vb])
            if self.subject[na] is not None and self.subject[nb] is not None:
                todo.setdefault((self.views.of[na][0], self.views.of[nb][0], code), i)
        checks: list[tuple[tuple[int, int, int], bool, Box]] = [
            (key, cut, box) for key in todo for cut, box in self._subject_alignments(*key)
        ]
        found = coarse.verify_boxes(
            self.thumbs, [k for k, _, _ in checks], [b for _, _, b in checks], [c for _, c, _ in checks]
        )
        best: dict[tuple[int, int, int], CoarseResult] = {}
        lim = self.limits
        for (key, _, _), m in zip(checks, found, strict=True):
            if m.passes(lim.min_ncc, lim.max_rmse) and (key not in best or m.ncc > best[key].match.ncc):
                best[key] = CoarseResult(m, key[0], key[1], float(scores[todo[key]]))
        return list(best.values())

    def _subject_alignments(self, va: int, vb: int, code: int) -> list[tuple[bool, Box]]:
        """The alignments (``cut_a``, box) that the subject boxes of the images of whole views ``va`` and
        ``vb`` imply, ``b`` in orientation ``ALL[code]`` (none for a content-box view, or an image with no
        plain background); a mirrored copy is not cut (as the fine check keeps it:
        :data:`~lookalike.dedup.fine.MIN_SIDE_FLIPPED`)."""
        na, nb = int(self.views.node[va]), int(self.views.node[vb])
        sa, sb = self.subject[na], self.subject[nb]
        if sa is None or sb is None or self.views.box[va] != WHOLE or self.views.box[vb] != WHOLE:
            return []
        o = ALL[code]
        wb, hb = self.sizes[nb]
        found = subjects.alignments(sa, self.sizes[na], sb.turned(o), (hb, wb) if o.swaps_sides else (wb, hb))
        if o.mirror:
            found = [(c, b) for c, b in found if min(b[2] - b[0], b[3] - b[1]) >= fine.MIN_SIDE_FLIPPED]
        return found if self.crops else []

    def subject_matches(self, p: Pair) -> list[CoarseResult]:
        """The alignments of a pair of nodes that their subject boxes imply, in every allowed orientation,
        that pass the coarse check: best first."""
        va, vb = self.views.of[p[0]][0], self.views.of[p[1]][0]
        todo = [
            (va, vb, code, *al) for code in self.orientations for al in self._subject_alignments(va, vb, code)
        ]
        found = coarse.verify_boxes(
            self.thumbs, [t[:3] for t in todo], [t[4] for t in todo], [t[3] for t in todo]
        )
        lim = self.limits
        out = [CoarseResult(m, va, vb, 0.0) for m in found if m.passes(lim.min_ncc, lim.max_rmse)]
        return sorted(out, key=lambda c: c.match.ncc, reverse=True)

    def _keep(self, kept: list[CoarseResult]) -> None:
        """Each pair of nodes keeps, for each pair of their views, the best of the matches ``kept``."""
        touched: set[Pair] = set()
        for c in kept:
            pair = (int(self.views.node[c.view_a]), int(self.views.node[c.view_b]))
            known = self.coarse.setdefault(pair, [])
            key = (c.view_a, c.view_b, c.match.exact is None)  # (a subjects' alignment kept apart)
            same = next(
                (k for k, o in enumerate(known) if (o.view_a, o.view_b, o.match.exact is None) == key), None
            )
            if same is None:
                known.append(c)
            elif self._rank(c.match) > self._rank(known[same].match):
                known[same] = c
            touched.add(pair)
        for pair in touched:
            self.coarse[pair].sort(key=lambda c: self._rank(c.match), reverse=True)

    def _rank(self, m: coarse.Match) -> tuple[bool, float]:
        """Coarse matches in order: one that passes before one that fails, then the higher NCC."""
        return (m.passes(self.limits.min_ncc, self.limits.max_rmse), m.ncc)

    def best_coarse(self, p: Pair) -> CoarseResult:
        """The best coarse match of a pair of nodes (over every pair of their views)."""
        return self.coarse[p][0]

    def _crop_search(
        self,
        failed: npt.NDArray[np.intp],
        scores: npt.NDArray[np.float32],
        found: coarse.Matches,
        boxes: npt.NDArray[np.intp],
        keep_failing: bool,
    ) -> None:
        """Improve ``found`` at rows ``failed`` by cutting one side: first a look at 8×8 with a few spread
        crops (:data:`~lookalike.dedup.coarse.SPARSE_BOXES`) — pairs that correlate less than
        :data:`CROP_PREFILTER` there, or as they are, go no further — then, at 12×12, every crop box near
        the best of them on the side it cut (:data:`~lookalike.dedup.coarse.NEAR_BOXES`); ``boxes`` gets
        the index into :data:`~lookalike.dedup.coarse.CROP_BOXES` of each improved row's box."""
        import numpy as np

        if not len(failed):
            return
        sparse = coarse.verify_all(
            self.thumbs, found.rows[failed], coarse.SPARSE_BOXES, size=coarse.PREFILTER_SIZE, rmse_from=2.0
        )
        go = (np.maximum(sparse.ncc, scores[failed]) >= CROP_PREFILTER) & (sparse.cut > 0)
        rmse_from = -1.0 if keep_failing else self.limits.min_ncc
        for side in (1, 2):
            for sparse_box in np.unique(sparse.box[go & (sparse.cut == side)]).tolist():
                at = failed[go & (sparse.cut == side) & (sparse.box == sparse_box)]
                near = coarse.NEAR_BOXES[sparse_box]
                better = coarse.verify_all(
                    self.thumbs,
                    found.rows[at],
                    [coarse.CROP_BOXES[k] for k in near],
                    cut="a" if side == 1 else "b",
                    rmse_from=rmse_from,
                )
                up = better.ncc > found.ncc[at]
                rows_up = at[up]
                found.ncc[rows_up], found.rmse[rows_up] = better.ncc[up], better.rmse[up]
                found.cut[rows_up] = better.cut[up]
                boxes[rows_up] = np.asarray(near, np.intp)[better.box[up]]

    def check_pair(self, a: int, b: int) -> None:
        """The coarse check of two nodes that no candidate joined: every pair of their views in every
        allowed orientation (nothing when the pair was checked already)."""
        self.check_pairs([(a, b)])

    def check_pairs(self, pairs: Sequence[Pair]) -> None:
        """:meth:`check_pair` of each of ``pairs`` (``a < b``) not checked yet, in one coarse check (6 ms a
        call for one pair: many calls for a few rows each would cost more than their rows)."""
        import numpy as np

        todo = [p for p in dict.fromkeys(pairs) if p not in self.coarse and not self.failed(p)]
        rows = [row for p in todo for row in self._every_row(p)]
        if not rows:
            return
        a_ix, b_ix, code_ix = np.asarray(rows, np.intp).reshape(-1, 3).T
        score = np.concatenate(  # (a few thousand rows at a time: each takes two 3-KB thumbnails)
            [self.scores(a_ix[sl], b_ix[sl], code_ix[sl]) for sl in _slices(len(rows), SCORE_ROWS)]
        )
        self.check_coarse(Candidates(a_ix, b_ix, code_ix, score), keep_failing=True)

    def _every_row(self, p: Pair) -> list[tuple[int, int, int]]:
        """``(view a, view b, orientation)`` for every pair of the two nodes' views in every allowed
        orientation."""
        return [
            (x, y, code)
            for x in self.views.of[p[0]]
            for y in self.views.of[p[1]]
            for code in self.orientations
        ]

    def scores(
        self, a: npt.NDArray[np.intp], b: npt.NDArray[np.intp], codes: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float32]:
        """The 8×8 correlation of views ``a`` and ``b``, ``b`` in orientation ``codes``."""
        import numpy as np

        small = self.thumbs.shrunk(CANDIDATE, self.thumbs.base[np.concatenate([a, b])]).transpose(0, 2, 3, 1)
        xa, xb = small[: len(a)], small[len(a) :]
        turned = np.stack([oriented(xb[i : i + 1], ALL[c])[0] for i, c in enumerate(codes.tolist())])
        out: npt.NDArray[np.float32] = (_rows(np.ascontiguousarray(xa)) * _rows(turned)).sum(1)
        return out

    def coarse_passed(self, p: Pair) -> bool:
        return p in self.coarse and self.coarse[p][0].match.passes(self.limits.min_ncc, self.limits.max_rmse)

    # ------------------------------------------------------------------------------------------------------
    # fine

    def fine_passes(self, f: fine.FineMatch) -> bool:
        lim = self.limits
        return (
            f.anchored
            and f.ssim >= lim.min_ssim
            and f.detail >= lim.min_detail
            and f.colour <= lim.max_colour
            and (f.local is None or f.local <= lim.max_local)
        )

    def _fine_image(self, n: int) -> Image.Image:
        from PIL import Image

        arr = self.fines[n]
        if arr is None:
            arr = read_fine(self.paths[n])
        return Image.fromarray(arr)

    def _grey(self, n: int) -> Image.Image:
        """Node ``n``'s file in grey at up to the close-up's size, the last few kept (a look-alike of many
        files is read once for all their pairs)."""
        with self._grey_lock:
            if n in self._greys:
                self._greys.move_to_end(n)
                return self._greys[n]
        img = read_grey(self.paths[n], closeup.SIDE)
        with self._grey_lock:
            self._greys[n] = img
            while len(self._greys) > GREYS_KEPT:
                self._greys.popitem(last=False)
        return img

    def check_fine(self, p: Pair) -> fine.FineMatch:
        """The fine match of a coarse-passed pair, refined from the coarse alignment, then (while that
        falls short) from the best alignment with ``a`` cut and with ``b`` cut."""
        if p in self.fine:
            return self.fine[p]
        try:  # a file read again for its fine thumbnail may have changed or gone since the scan
            fa, fb = self._fine_image(p[0]), self._fine_image(p[1])
        except (ImageError, OSError):
            self.fine[p] = fine.FineMatch(-1.0, 1.0, (0, 0), WHOLE, detail=-1.0)
            return self.fine[p]
        passing = [
            c for c in self.coarse.get(p, []) if c.match.passes(self.limits.min_ncc, self.limits.max_rmse)
        ]
        if not passing:  # the coarse check turned every alignment down
            self.fine[p] = fine.FineMatch(-1.0, 1.0, (0, 0), WHOLE, detail=-1.0)
            return self.fine[p]
        # each coarse match's own alignment, then (only while none is good enough) the cut alignments
        starts = itertools.chain(
            (self._start(c, c.match) for c in passing), (st for c in passing for st in self._cut_starts(c))
        )
        tried: list[fine.Start] = []
        f = self._fine_from(p, fa, fb, starts, tried)
        if not self.fine_passes(f):  # each new start on its own: the first that a close-up lets through
            more = self._more_starts(p, passing, tried)
            f = next((g for st in more if self.fine_passes(g := self._fine_from(p, fa, fb, [st]))), f)
        self.fine[p] = f
        return f

    def _more_starts(
        self, p: Pair, proposed: list[CoarseResult], tried: list[fine.Start]
    ) -> Iterator[fine.Start]:
        """For a pair the proposed starts (``tried``) did not let through: the best few alignments the
        pictures' subjects imply (:meth:`subject_matches`: placed to a pixel or two, where the candidates'
        may pass the fine check off by a few and fail the close-up), then the second look's
        (:meth:`_second_look`); each made only when the ones before fall short."""
        seen = set(tried)
        if self.subject[p[0]] is not None and self.subject[p[1]] is not None:
            ours = (st for st in (self._start(c, c.match) for c in self.subject_matches(p)) if st not in seen)
            for st in itertools.islice(ours, SUBJECT_STARTS):
                seen.add(st)
                yield st
        yield from self._second_look(p, proposed, seen)

    def _second_look(
        self, p: Pair, proposed: list[CoarseResult], tried: Collection[fine.Start] = ()
    ) -> list[fine.Start]:
        """Alignments the candidates did not propose, for a pair the fine check turned down: every pair of
        the two nodes' views in every allowed orientation, whole or either side cut to any crop box, that
        passes the coarse check, correlates at least as well as every proposed one and is not among the
        starts ``tried`` (the fine search stops at the first start it lets through; one the close-up then
        turned down leaves the later ones untried) — the best few. The candidate search proposes one
        orientation per pair of views (a crop can change which orientation a picture's 8×8 trend calls
        canonical, and a wide screen turned 180° and mirrored still correlates 0.9), and looks for a crop
        only where the whole view fails (a 75% crop of an object on white passes whole at 0.97, and its
        alignment is off by the cut)."""
        rows = self._every_row(p)
        boxes = coarse.CROP_BOXES if self.crops else coarse.WHOLE
        bar = max(c.match.ncc for c in proposed)
        lim = self.limits
        better = [
            CoarseResult(m, x, y, 0.0)
            for (x, y, _), m in zip(rows, coarse.verify(self.thumbs, rows, boxes), strict=True)
            if m.ncc >= bar and m.passes(lim.min_ncc, lim.max_rmse)
        ]
        better.sort(key=lambda c: c.match.ncc, reverse=True)
        fresh = (st for st in (self._start(c, c.match) for c in better) if st not in tried)
        return list(itertools.islice(fresh, SECOND_LOOK_STARTS))

    def _fine_from(
        self,
        p: Pair,
        fa: Image.Image,
        fb: Image.Image,
        starts: Iterable[fine.Start],
        tried: list[fine.Start] | None = None,
    ) -> fine.FineMatch:
        """The fine check from ``starts`` (the first that passes counts), then the close-up where the files
        allow one. When the close-up turns down an alignment the fine check let through, the same start is
        tried once more with the other side's edges free to move (the search moves one side's edges only;
        at 256 px two text blocks a line apart may pass, and at full size only the right side moved does)
        — that one start, not every other: each extra alignment tried is a chance for two documents of one
        template to meet where their differing digits are cut away."""
        tried = [] if tried is None else tried  # (the starts the fine search looked at, in order)

        def recorded() -> Iterator[fine.Start]:
            for st in starts:
                tried.append(st)
                yield st

        give_up = self.limits.min_ssim - GIVE_UP_MARGIN
        f = fine.compare(fa, fb, recorded(), give_up_below=give_up, enough=self.fine_passes)
        seen = self._close(p, f)
        if not self.fine_passes(f) or self.fine_passes(seen):
            return seen
        start = next((st for st in tried if _started(f, st)), None)
        if start is None or start.box != WHOLE:
            return seen
        other = fine.compare(fa, fb, [start.other_side()], give_up_below=give_up)
        again = self._close(p, other) if self.fine_passes(other) else other
        return again if self.fine_passes(again) else seen

    def _close(self, p: Pair, f: fine.FineMatch) -> fine.FineMatch:
        """``f`` looked at in close-up, where it passes the fine check and the files allow one."""
        if not (self.fine_passes(f) and closeup.needed(f, self.sizes[p[0]], self.sizes[p[1]])):
            return f
        try:  # at the files' own resolution, where digits and small text differ
            return closeup.look(self._grey(p[0]), self._grey(p[1]), f, self.limits.max_local)
        except (ImageError, OSError):
            return fine.FineMatch(-1.0, 1.0, (0, 0), WHOLE, detail=-1.0)

    def _start(self, c: CoarseResult, m: coarse.Match) -> fine.Start:
        """The fine search's start at coarse match ``m`` of the views of ``c``."""
        return fine.Start(
            m.orientation,
            m.cropped != "b",
            m.region,
            self.thumbs.base[c.view_a],
            self.thumbs.base[c.view_b],
            self.views.box[c.view_a],
            self.views.box[c.view_b],
        )

    def _cut_starts(self, c: CoarseResult) -> Iterator[fine.Start]:
        """With crops: the best alignment with ``a`` cut and with ``b`` cut, where they differ from ``c``'s
        own (which may cut the wrong side of a plain picture, or none of a slight crop)."""
        if not self.crops or c.match.exact is not None:
            return
        m = c.match
        row = [(c.view_a, c.view_b, m.orientation.code)]
        for side in "ab":
            x = coarse.verify(self.thumbs, row, coarse.CROP_BOXES, cut=side)[0]
            if x.box and (x.cropped, x.box) != (m.cropped, m.box):
                yield self._start(c, x)

    def failed(self, p: Pair) -> bool:
        """Whether the coarse check turned every alignment of the pair down (it was checked; of a pair whose
        candidates fell in two parts of the check, whether one part did: see :attr:`coarse` first)."""
        import numpy as np

        key = p[0] * len(self.paths) + p[1]
        at = int(np.searchsorted(self._failed, key))
        return at < len(self._failed) and int(self._failed[at]) == key

    def likeness(self, i: int, j: int) -> float:
        """How alike a verified pair is, higher is more alike: the close-up's local difference where there
        was one (negated), else the fine check's lowest tile SSIM less one."""
        f = self.fine[(min(i, j), max(i, j))]
        return -f.local if f.local is not None else f.ssim - 1.0

    def shown_by(self, j: int, keepers: list[int]) -> int | None:
        """Which of ``keepers`` (distinct pictures, each a verified duplicate of ``j``) the copy ``j`` shows:
        the one that wins against every other at ``j``'s own resolution (:func:`closeup.which_shows`);
        ``None`` when none does — ``j`` is too small, or too changed, to tell them apart."""
        if len(keepers) == 1:
            return keepers[0]
        try:
            grey = self._grey(j)
            # each keeper drawn by its own match, or by another keeper's of the same size when that fits
            # better (two receipts of one template: one mapping, fair to both; a fine alignment may be off
            # by a percent of scale, more than the pixels that tell them apart)
            drawn = {
                k: closeup.closest(
                    grey,
                    [
                        closeup.in_frame(grey, self._grey(k), self.fine[(min(j, o), max(j, o))], j_is_a=j < o)
                        for o in keepers
                        if o == k or self.sizes[o] == self.sizes[k]
                    ],
                )
                for k in keepers
            }
        except (ImageError, OSError, KeyError):
            return None
        for k in keepers:
            mine = drawn[k]
            if mine is None:
                continue
            if all(
                (other := drawn[o]) is not None and closeup.which_shows(grey, [mine, other]) == 0
                for o in keepers
                if o != k
            ):
                return k
        return None

    def duplicate(self, i: int, j: int) -> bool:
        p = (min(i, j), max(i, j))
        self.check_pair(*p)  # (a pair checked before is not checked again)
        return self.coarse_passed(p) and self.fine_passes(self.check_fine(p))


def _slices(n: int, size: int) -> list[slice]:
    return [slice(lo, lo + size) for lo in range(0, n, size)]
