"""Finding the duplicate groups of a collection: candidates, two checks, keeper-first groups."""

from __future__ import annotations

import os
import time
from collections.abc import Collection as Collection_
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.dedup import candidates as cands
from lookalike.dedup import coarse
from lookalike.dedup.groups import GroupBuilder
from lookalike.dedup.judge import Judge, Pair, Views
from lookalike.dedup.keeper import KeepPolicy, parse_keep
from lookalike.dedup.orientation import ALL, IDENTITY, MIRROR
from lookalike.dedup.reading import (
    Collection,
    FileFacts,
    Measure,
    Progress,
    content_ids,
    read_all,
    read_one,
)
from lookalike.dedup.results import DedupResult, PairCheck
from lookalike.dedup.strictness import Strictness, StrictnessName, resolve
from lookalike.errors import LookalikeError
from lookalike.forked import forked_map, processes_for
from lookalike.memory import release_memory
from lookalike.scanning import Skipped, scan_images

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lookalike.features import Embedder

PathsArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


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
    pattern, ``["*.tmp", "raw/**"]``, as :func:`lookalike.scanning.scan_images` reads them; excluded files
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
        subject=[files[c].subject for c in nodes],
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
    builder = GroupBuilder(files, content, nodes, judge, policy, ref_files)
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
        subject=[ra.facts.subject, rb.facts.subject],
    )
