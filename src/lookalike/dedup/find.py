"""Finding the duplicate groups of a collection: candidates, two checks, keeper-first groups."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Collection as Collection_
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.dedup import candidates as cands
from lookalike.dedup import coarse
from lookalike.dedup.borders import WHOLE, Box, box_area
from lookalike.dedup.decisions import pair_key
from lookalike.dedup.fine import FineMatch
from lookalike.dedup.grouping import keeper_first_groups
from lookalike.dedup.judge import Judge, Pair, Views
from lookalike.dedup.keeper import KeeperFacts, KeepPolicy, kept_because, parse_keep, rank
from lookalike.dedup.orientation import ALL, IDENTITY, MIRROR
from lookalike.dedup.quality import UNKNOWN_FILE, FileQuality, made_from_jpeg, read_quality
from lookalike.dedup.reading import (
    FORK_LEAST,
    Collection,
    FileFacts,
    Measure,
    Progress,
    content_ids,
    default_workers,
    read_all,
    read_one,
)
from lookalike.dedup.results import DedupResult, DuplicateGroup, Member, PairCheck
from lookalike.dedup.strictness import Strictness, StrictnessName, resolve
from lookalike.errors import ImageError, LookalikeError
from lookalike.forked import forked_map, processes_for
from lookalike.hashing import file_sha256
from lookalike.images import Skipped, scan_images
from lookalike.memory import release_memory

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lookalike.features import Embedder

PathsArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
# A turn shows in the relation from this many degrees on.
TURN_SHOWN = 0.3
#: Groups of up to this many files have each lossless file checked against each JPEG (made from it?).
MADE_FROM_JPEG_UP_TO = 16


def _orientations(flips: bool, rotations: bool) -> tuple[int, ...]:
    """The orientation codes a copy may be in."""
    return tuple(o.code for o in ALL if (flips or not o.mirror) and (rotations or o.turns == 0))


def _as_paths(paths: PathsArg, skipped: Skipped, exclude: Sequence[str] = ()) -> list[Path]:
    """The files of a folder but those ``exclude`` leaves out (the files it passes over counted in
    ``skipped``) or of a list of files."""
    if isinstance(paths, (str, os.PathLike)):
        scan = scan_images(paths, exclude=exclude)
        skipped.add(scan.skipped)
        return scan.paths
    return list(dict.fromkeys(Path(p) for p in paths))


def _reference_paths(
    against: PathsArg | Sequence[PathsArg] | None,
    new: list[Path],
    skipped: Skipped,
    exclude: Sequence[str] = (),
) -> list[Path]:
    """The files of the reference folders (or files), none of them among ``new``."""
    if against is None:
        return []
    sources = [against] if isinstance(against, (str, os.PathLike)) else list(against)
    refs: list[Path] = []
    for src in sources:
        if isinstance(src, (str, os.PathLike)) and not Path(src).exists():
            raise LookalikeError(f"--against {src}: no such folder; pass a folder of reference images")
        refs += _as_paths(src, skipped, exclude)
    taken = {p.absolute() for p in new}
    overlap = [p for p in refs if p.absolute() in taken]
    if overlap:
        raise LookalikeError(
            f"{overlap[0]} is both checked and a reference ({len(overlap)} file(s) in all); pass a "
            "reference folder outside the folder checked"
        )
    return list(dict.fromkeys(refs))


def _embed(
    embedder: Embedder, paths: Sequence[Path], progress: Progress | None
) -> tuple[npt.NDArray[np.float32], list[tuple[int, str]]]:
    import numpy as np

    vectors = np.zeros((len(paths), embedder.dim), np.float32)
    failures: list[tuple[int, str]] = []
    done = 0
    for batch in embedder.iter_files(paths):
        vectors[batch.indices] = np.asarray(batch.vectors, dtype=np.float32)
        failures += batch.failures
        done += len(batch.indices) + len(batch.failures)
        if progress:
            progress("embedding", done, len(paths))
    return vectors, failures


def find_duplicates(
    paths: PathsArg,
    *,
    strictness: Strictness | StrictnessName | str = "normal",
    against: PathsArg | Sequence[PathsArg] | None = None,
    exclude: Sequence[str] = (),
    keep: KeepPolicy | str = "quality",
    embedder: Embedder | None = None,
    vectors: npt.ArrayLike | None = None,
    neighbours: int = 10,
    flips: bool = True,
    rotations: bool = True,
    crops: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
    ignore: Collection_[tuple[str, str]] = (),
    prefer: Collection_[str] = (),
    measure: Measure | None = None,
    **thresholds: float | None,
) -> DedupResult:
    """Group the near-duplicates among ``paths`` (a folder, or image files) and pick a keeper for each group.

    Catches exact copies, re-encodes (JPEG quality 30, WebP), resizes, quarter and half turns and mirror
    images (``rotations``, ``flips``), crops keeping ≥ 75% of the area (``crops``), added uniform borders
    (letterbox, frames), tone edits (brightness, contrast, gamma ±15%, slight colour casts) and scans (a
    small turn, blur, noise), and keeps apart images that only share a layout — pages of different words,
    documents of one template whose digits differ, windows of one app, objects moved or recoloured. See
    :mod:`lookalike.dedup` for the method. Unreadable files are skipped and listed in
    :attr:`DedupResult.failures`.

    ``exclude`` leaves files and folders out of the folder scans (of ``paths`` and of ``against``) by glob
    pattern, ``["*.tmp", "raw/**"]``, as :func:`lookalike.images.scan_images` reads them; excluded files
    are counted in :attr:`DedupResult.skipped`. Files passed as a list are taken as they are.

    ``strictness`` is a :class:`Strictness` or the name of a preset (``strict``, ``normal``, ``loose``).
    ``keep`` chooses each group's keeper (:func:`lookalike.dedup.keeper.parse_keep`: ``quality`` — the
    best file — ``largest``, ``oldest``, ``newest`` or ``in:FOLDER``). With ``against`` (reference folders
    or files), only files of ``paths`` that duplicate a reference file are reported, each group kept by a
    reference file, and no reference file is ever a duplicate. Deep features only add candidate pairs:
    pass an ``embedder``, or ``vectors`` with one row per path in the order of ``paths`` (after folder
    listing), e.g. from an index. ``neighbours`` is how many candidates each image gets from each source.
    ``ignore`` holds pairs of SHA-256 hashes of files that are not duplicates (review decisions,
    :class:`lookalike.dedup.decisions.Decisions`): such a pair is never grouped, and is listed in
    :attr:`DedupResult.ignored` when it would have been; ``prefer`` holds hashes of files chosen as keepers,
    which keep their group whatever the ``keep`` rule says (the others joining only as verified duplicates
    of them). ``measure`` runs on each picture as it is read (:data:`~lookalike.dedup.reading.Measure`);
    what it returns is in :attr:`DedupResult.measured` by path.
    The threshold keywords of earlier releases (``min_ncc=``, ``min_ssim=``, …) still work, with a
    :class:`DeprecationWarning`: use ``strictness=Strictness.named("normal").replace(min_ssim=0.9)``.

    >>> result = find_duplicates(["a.jpg", "a-copy.jpg", "b.jpg"])  # doctest: +SKIP
    >>> [g.paths for g in result.groups]  # doctest: +SKIP
    [[PosixPath('a.jpg'), PosixPath('a-copy.jpg')]]
    """
    import numpy as np

    started = time.perf_counter()
    limits = resolve(strictness, thresholds)
    policy = keep if isinstance(keep, KeepPolicy) else parse_keep(keep)
    if neighbours < 1:
        raise LookalikeError(f"neighbours {neighbours} must be at least 1, e.g. 10")
    skipped = Skipped()
    new_paths = _as_paths(paths, skipped, exclude)
    ref_paths = _reference_paths(against, new_paths, skipped, exclude)
    all_paths = new_paths + ref_paths
    settings = {
        "strictness": strictness if isinstance(strictness, str) else "custom",
        **limits.to_dict(),
        "keep": str(policy),
        "against": [
            str(p) for p in ([against] if isinstance(against, (str, os.PathLike)) else against or [])
        ],
        "exclude": list(exclude),
        "neighbours": neighbours,
        "flips": flips,
        "rotations": rotations,
        "crops": crops,
        "features": embedder is not None or vectors is not None,
    }
    feats: npt.NDArray[np.float32] | None = None
    if vectors is not None:
        feats = np.asarray(vectors, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[0] != len(new_paths):
            raise LookalikeError(
                f"vectors has shape {tuple(feats.shape)}; expected one row per path ({len(new_paths)} rows)"
            )
        if ref_paths:
            raise LookalikeError("vectors cannot be combined with against; pass an embedder instead")

    read = read_all(all_paths, progress, workers, measure=measure)
    files = read.files
    measured = {f.path: m for f, m in zip(files, read.measured, strict=True)} if measure is not None else {}
    feats = _file_features(feats, embedder, files, {p: i for i, p in enumerate(all_paths)}, progress)
    stats: dict[str, Any] = {}
    refs = {p for p in ref_paths}
    is_ref = [f.path in refs for f in files]
    if len(files) < 2:
        seconds = time.perf_counter() - started
        return DedupResult(
            [], len(files), read.failures, settings, stats, seconds, skipped=skipped, measured=measured
        )

    # exact copies collapse into one node each: the first file with those bytes
    content = content_ids(files)
    nodes = sorted(set(content))
    views = Views.of_nodes([files[c].content for c in nodes])
    thumbs = coarse.Thumbnails(_view_thumbs(read, nodes, views))
    node_ref = np.zeros(len(nodes), bool)
    node_of = {c: n for n, c in enumerate(nodes)}
    for i, c in enumerate(content):
        node_ref[node_of[c]] |= is_ref[i]
    allowed = _orientations(flips, rotations)
    judge = Judge(
        thumbs,
        views,
        [read.fines[c] for c in nodes],
        [files[c].path for c in nodes],
        limits,
        orientations=allowed,
        crops=crops,
        sizes=[(files[c].width, files[c].height) for c in nodes],
    )
    failures = read.failures
    del read
    release_memory()  # (the read's buffers: a steady size for the rest of the run)

    # 1. candidates from pixels and, if given, from features
    whole = np.asarray([v[0] for v in views.of], np.intp)
    groups = node_ref[views.node].astype(np.intp) if ref_paths else None
    found = cands.find(thumbs, whole, neighbours, orientations=allowed, crops=crops, groups=groups)
    release_memory()
    stats["pixel_candidates"] = len(found)
    feature_only: set[Pair] = set()
    if feats is not None:
        found, feature_only = _with_feature_candidates(found, feats[nodes], whole, judge, flips, stats)
    # 2. the coarse check on every candidate, the fine check on those it lets through
    judge.check_coarse(found)
    del found
    release_memory()
    passed = sorted(p for p in judge.coarse if judge.coarse_passed(p))
    stats["coarse_passed"] = len(passed)
    verified = _verify(judge, passed, workers, progress)
    stats["verified_pairs"] = len(verified)
    stats["fine_rejected"] = len(passed) - len(verified)
    if feats is not None:
        stats["verified_from_feature_candidates_only"] = sum(p in feature_only for p in verified)
    # 3. groups: every member a verified duplicate of the keeper itself
    ref_files = {i for i, r in enumerate(is_ref) if r} if ref_paths else None
    builder = _GroupBuilder(files, content, nodes, judge, policy, ref_files)
    ignored: list[tuple[Path, Path]] = []
    if ignore or prefer:
        verified, ignored = builder.apply_decisions(verified, ignore, prefer)
        stats["ignored_pairs"] = len(ignored)
    out = builder.groups(verified)
    stats["fine_checks"] = len(judge.fine)
    rejected = [_verdict(judge, p) for p in passed if not judge.fine_passes(judge.fine[p])]
    seconds = time.perf_counter() - started
    return DedupResult(
        out, len(files), failures, settings, stats, seconds, rejected, skipped, ignored, measured
    )


def _view_thumbs(read: Collection, nodes: list[int], views: Views) -> npt.NDArray[np.uint8]:
    """The thumbnail of every view, in view order (a node's whole image, then its content box)."""
    import numpy as np

    if len(views.box) == len(read.files):  # no borders, no copies: the read's own array
        return read.whole
    out = np.empty((len(views.box), *read.whole.shape[1:]), np.uint8)
    for c, of in zip(nodes, views.of, strict=True):
        out[of[0]] = read.whole[c]
        if len(of) > 1:
            out[of[1]] = read.content[c]
    return out


def _file_features(
    feats: npt.NDArray[np.float32] | None,
    embedder: Embedder | None,
    files: list[FileFacts],
    position: dict[Path, int],
    progress: Progress | None,
) -> npt.NDArray[np.float32] | None:
    """One feature row per readable file: the given rows in the files' order, or embedded now."""
    if feats is None and embedder is not None and files:
        feats, bad = _embed(embedder, [f.path for f in files], progress)
        if bad:  # readable for the thumbnail but not for the network: keep it, pixels still decide
            feats[[i for i, _ in bad]] = 0.0
        return feats
    return feats[[position[f.path] for f in files]] if feats is not None else None


def _with_feature_candidates(
    found: cands.Candidates,
    feats: npt.NDArray[np.float32],
    whole: npt.NDArray[np.intp],
    judge: Judge,
    flips: bool,
    stats: dict[str, Any],
) -> tuple[cands.Candidates, set[Pair]]:
    """``found`` plus each node's nearest nodes by feature cosine (whole views, as is and mirrored; class
    features see a turned copy as another picture); also the node pairs only the features proposed."""
    import faiss
    import numpy as np

    unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    n = len(unit)
    k = min(judge_neighbours(found, n) + 1, n)
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(np.ascontiguousarray(unit, dtype=np.float32))
    _, nn = index.search(np.ascontiguousarray(unit, dtype=np.float32), k)
    rows = np.repeat(np.arange(n), k)
    hits = nn.ravel()
    ok = (hits >= 0) & (hits != rows)
    a, b = np.minimum(rows[ok], hits[ok]), np.maximum(rows[ok], hits[ok])
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    stats["feature_candidates"] = len(pairs)
    known = set(zip(judge.views.node[found.a].tolist(), judge.views.node[found.b].tolist(), strict=True))
    feature_only = pairs - known
    stats["feature_only_candidates"] = len(feature_only)
    codes = [IDENTITY.code] + ([MIRROR.code] if flips else [])
    pa = np.asarray([whole[p[0]] for p in feature_only for _ in codes], np.intp)
    pb = np.asarray([whole[p[1]] for p in feature_only for _ in codes], np.intp)
    pc = np.asarray([c for _ in feature_only for c in codes], np.intp)
    extra = cands.Candidates(pa, pb, pc, judge.scores(pa, pb, pc) if len(pa) else np.zeros(0, np.float32))
    merged = cands.Candidates(
        np.concatenate([found.a, extra.a]),
        np.concatenate([found.b, extra.b]),
        np.concatenate([found.code, extra.code]),
        np.concatenate([found.score, extra.score]),
        # (a pair the features propose may be a crop: it may go on to the crop search)
        None if found.rank is None else np.concatenate([found.rank, np.zeros(len(pa), np.intp)]),
    )
    return merged, feature_only


def judge_neighbours(found: cands.Candidates, n: int) -> int:
    """How many feature neighbours each node gets: as many as pixel candidates per node, at least 10."""
    return max(10, min(n - 1, len(found) // max(n, 1)))


#: Pairs whose images are both at most this many px on the long side are checked in the calling thread: their
#: fine check is short Python work that threads only slow down, contending for the GIL (CIFAR-10: 4.4 ms a
#: pair on two threads, 3.6 ms on one).
SMALL_SIDE = 128
#: At least this many pairs of small images are checked in forked processes, one a core
#: (:mod:`lookalike.forked`): in threads the GIL keeps them to one.
FORK_PAIRS = 500


def _verify(judge: Judge, passed: list[Pair], workers: int | None, progress: Progress | None) -> list[Pair]:
    """The pairs of ``passed`` that the fine check confirms, in order: pairs of small images in this
    thread, or in forked processes when there are :data:`FORK_PAIRS` of them, the others on a thread pool
    (Pillow and NumPy release the GIL on large images) — each in node order (the pairs of a file come one
    after another, for the close-up's cache)."""
    small = [max(*judge.sizes[p[0]], *judge.sizes[p[1]]) <= SMALL_SIDE for p in passed]
    large = [p for p, s in zip(passed, small, strict=True) if not s]
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress and (done % 64 == 0 or done == len(passed)):
            progress("verifying", done, len(passed))

    pool = ThreadPoolExecutor(max(1, workers if workers is not None else os.cpu_count() or 1))
    smalls = [p for p, s in zip(passed, small, strict=True) if s]
    processes = processes_for(len(smalls), FORK_PAIRS) if workers is None else 0
    checked = forked_map(judge.check_fine, smalls, processes=processes) if processes else None
    try:
        for _ in pool.map(judge.check_fine, large):
            step()
        for p, f in zip(smalls, checked or map(judge.check_fine, smalls), strict=True):
            judge.fine[p] = f  # (made in a forked worker: kept here)
            step()
    finally:  # a progress callback may raise to cancel
        pool.shutdown(wait=True, cancel_futures=True)
        if checked is not None:
            checked.close()
    return [p for p in passed if judge.fine_passes(judge.fine[p])]


def _verdict(judge: Judge, p: Pair) -> PairCheck:
    m, f = judge.best_coarse(p).match, judge.fine.get(p)
    return PairCheck(
        judge.paths[p[0]],
        judge.paths[p[1]],
        m.ncc,
        m.rmse,
        m.orientation if f is None else f.orientation,
        bool(m.cropped) if f is None else bool(f.shows_more()),
        judge.coarse_passed(p) and f is not None and judge.fine_passes(f),
        None if f is None else f.ssim,
        None if f is None else f.colour,
        judge.coarse_passed(p),
        None if f is None else f.detail,
        0.0 if f is None else f.angle,
        None if f is None else f.local,
    )


class _GroupBuilder:
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
        self, verified: Sequence[Pair], ignore: Collection_[tuple[str, str]], prefer: Collection_[str]
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
        small = default_workers([self.files[i].path for i in todo]) == 1  # (the reading's rule)
        processes = processes_for(len(todo), FORK_LEAST) if small else 0
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
            hints=_hints(keeper_facts, f, fm, to_member.code, other_is_a=keeper_node != p[0]),
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


def _hints(
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


def verify_pair(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    strictness: Strictness | StrictnessName | str = "normal",
    flips: bool = True,
    rotations: bool = True,
    crops: bool = True,
    **thresholds: float | None,
) -> PairCheck:
    """The checks :func:`find_duplicates` applies to a candidate pair, on two files: the coarse scores at
    their best alignment (every pair of views, every allowed orientation), then (if those pass) the fine
    scores at the refined alignment, and the verdict.

    >>> verify_pair("beach.jpg", "beach-small.jpg").duplicate  # doctest: +SKIP
    True
    """
    judge = pair_judge(a, b, resolve(strictness, thresholds), flips=flips, rotations=rotations, crops=crops)
    judge.check_pair(0, 1)
    if judge.coarse_passed((0, 1)):
        judge.check_fine((0, 1))
    return _verdict(judge, (0, 1))


def pair_judge(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    limits: Strictness,
    *,
    flips: bool = True,
    rotations: bool = True,
    crops: bool = True,
) -> Judge:
    """A :class:`Judge` of two files (nodes 0 and 1), nothing checked yet."""
    ra, rb = read_one(Path(a)), read_one(Path(b))
    return Judge(
        coarse.Thumbnails.stack(ra.thumbs + rb.thumbs),
        Views.of_nodes([ra.facts.content, rb.facts.content]),
        [ra.fine, rb.fine],
        [Path(a), Path(b)],
        limits,
        orientations=_orientations(flips, rotations),
        crops=crops,
        sizes=[(ra.facts.width, ra.facts.height), (rb.facts.width, rb.facts.height)],
    )
