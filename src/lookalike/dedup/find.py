"""Finding the duplicate groups of a collection: candidates, two checks, keeper-first groups."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lookalike.dedup import coarse, fine
from lookalike.dedup.grouping import keeper_first_groups
from lookalike.dedup.reading import (
    FileFacts,
    Progress,
    content_ids,
    read_all,
    read_fine,
    read_one,
)
from lookalike.dedup.results import DedupResult, DuplicateGroup, Member, PairCheck
from lookalike.errors import ImageError, LookalikeError
from lookalike.images import list_images

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

    from lookalike.features import Embedder

StrictnessName = Literal["strict", "normal", "loose"]


@dataclass(frozen=True)
class Strictness:
    """The thresholds of both checks. Coarse: NCC and RMSE of 12×12 thumbnails (lets every re-encode,
    resize, flip and crop through); fine: lowest tile SSIM (tiles of 1/8 of the side, and ``detail`` on
    tiles of 1/12) and largest tile colour difference at the refined alignment (decides where content
    differs)."""

    min_ncc: float
    max_rmse: float
    min_ssim: float
    max_colour: float
    min_detail: float


#: Presets measured on ``benchmarks/dedup.py`` (RESULTS.md "Dedup: content verification").
STRICTNESS: dict[str, Strictness] = {
    "strict": Strictness(min_ncc=0.95, max_rmse=0.06, min_ssim=0.90, max_colour=0.04, min_detail=0.6),
    # coarse 0.85: a small shape on white, cropped, correlates only ~0.88 at 12×12; the fine check decides
    "normal": Strictness(min_ncc=0.85, max_rmse=0.06, min_ssim=0.80, max_colour=0.06, min_detail=0.5),
    "loose": Strictness(min_ncc=0.80, max_rmse=0.10, min_ssim=0.65, max_colour=0.10, min_detail=0.4),
}
MIN_NCC = STRICTNESS["normal"].min_ncc
MAX_RMSE = STRICTNESS["normal"].max_rmse
MIN_SSIM = STRICTNESS["normal"].min_ssim
MAX_COLOUR = STRICTNESS["normal"].max_colour
# A pair goes on to the coarse crop search only if its 8×8 thumbnails (as is or mirrored) correlate this
# well: crops keeping ≥ 90% of the area score at least 0.85 there.
CROP_PREFILTER = 0.8

# The fine check stops on a 64 or 128 px grid for pairs this far below ``min_ssim`` there (aligned
# duplicates score ≥ 0.95 on those grids, distinct pages and screens mostly below 0.6).
GIVE_UP_MARGIN = 0.1

Pair = tuple[int, int]


class _Judge:
    """Both checks for pairs of images (by position), each result computed once and kept."""

    def __init__(
        self,
        thumbs: coarse.Thumbnails,
        fines: list[Image.Image | None],
        paths: list[Path],
        limits: Strictness,
        *,
        flips: bool,
        crops: bool,
    ) -> None:
        self.thumbs, self.fines, self.paths = thumbs, fines, paths
        self.limits, self.flips, self.crops = limits, flips, crops
        self.coarse: dict[Pair, coarse.Match] = {}
        self.fine: dict[Pair, fine.FineMatch] = {}
        self.cut: dict[Pair, tuple[coarse.Match, ...]] = {}  # the best alignments with a cut side

    def _fine_image(self, i: int) -> Image.Image:
        img = self.fines[i]
        if img is None:
            img = self.fines[i] = read_fine(self.paths[i])
        return img

    def check_coarse(self, pairs: Sequence[Pair]) -> None:
        """Coarse matches of ``pairs`` (a < b): whole images first, the crop search only where that fails
        and the 8×8 thumbnails agree well enough for a crop."""
        import numpy as np

        todo = [p for p in dict.fromkeys(pairs) if p not in self.coarse]
        self.coarse.update(
            zip(todo, coarse.verify(self.thumbs, todo, coarse.WHOLE, flips=self.flips), strict=True)
        )
        if not self.crops:
            return
        retry = [p for p in todo if not self.coarse[p].passes(self.limits.min_ncc, self.limits.max_rmse)]
        if retry:
            plain, mirror = self.thumbs.candidate_rows  # computed once for every image
            a, b = np.asarray(retry).T
            s8 = (plain[a] * plain[b]).sum(1)
            if self.flips:
                s8 = np.maximum(s8, (plain[a] * mirror[b]).sum(1))
            retry = [p for p, s in zip(retry, s8.tolist(), strict=True) if s >= CROP_PREFILTER]
        for start in range(0, len(retry), 4096):
            part = retry[start : start + 4096]
            for p, m in zip(
                part, coarse.verify(self.thumbs, part, coarse.CROP_BOXES, flips=self.flips), strict=True
            ):
                if m.ncc > self.coarse[p].ncc:
                    self.coarse[p] = m

    def coarse_passed(self, p: Pair) -> bool:
        return self.coarse[p].passes(self.limits.min_ncc, self.limits.max_rmse)

    def fine_passes(self, f: fine.FineMatch) -> bool:
        lim = self.limits
        return f.ssim >= lim.min_ssim and f.detail >= lim.min_detail and f.colour <= lim.max_colour

    def find_cuts(self, pairs: Sequence[Pair]) -> None:
        """The best alignment of each pair with a cut, one with ``a`` cut and one with ``b`` cut, in
        batches: starts for the fine search besides the coarse best (which may cut the wrong side of a
        plain picture, or none of a slight crop)."""
        todo = [p for p in dict.fromkeys(pairs) if p not in self.cut]
        for start in range(0, len(todo), 4096):
            part = todo[start : start + 4096]
            both = [
                coarse.verify(self.thumbs, part, coarse.CROP_BOXES, flips=self.flips, cut=c) for c in "ab"
            ]
            self.cut.update(zip(part, zip(*both, strict=True), strict=True))

    def check_fine(self, p: Pair) -> fine.FineMatch:
        """The fine match of a coarse-passed pair, refined from the coarse alignment, then (while that
        falls short) from the best alignment with ``a`` cut and with ``b`` cut."""
        if p in self.fine:
            return self.fine[p]
        try:  # a file read again for its fine thumbnail may have changed or gone since the scan
            fa, fb = self._fine_image(p[0]), self._fine_image(p[1])
        except (ImageError, OSError):
            self.fine[p] = fine.FineMatch(-1.0, 1.0, (0, 0), fine.WHOLE, detail=-1.0)
            return self.fine[p]
        a, b = p
        m = self.coarse[p]
        found = [m]
        if self.crops:
            if p not in self.cut:
                self.find_cuts([p])
            found += [
                c
                for c in self.cut[p]
                if c.box and (c.flipped, c.cropped, c.box) != (m.flipped, m.cropped, m.box)
            ]
        starts = [fine.Start(c.flipped, c.cropped != "b", coarse.CROP_BOXES[c.box]) for c in found]
        f = fine.compare(
            fa,
            fb,
            starts,
            base_a=self.thumbs.base[a],
            base_b=self.thumbs.base[b],
            give_up_below=self.limits.min_ssim - GIVE_UP_MARGIN,
            enough=self.fine_passes,
        )
        self.fine[p] = f
        return f

    def duplicate(self, i: int, j: int) -> bool:
        p = (min(i, j), max(i, j))
        if p not in self.coarse:
            self.check_coarse([p])
        return self.coarse_passed(p) and self.fine_passes(self.check_fine(p))

    def verdict(self, p: Pair) -> PairCheck:
        m, f = self.coarse[p], self.fine.get(p)
        return PairCheck(
            self.paths[p[0]],
            self.paths[p[1]],
            m.ncc,
            m.rmse,
            m.flipped if f is None else f.flipped,
            bool(m.cropped if f is None else f.cropped),
            self.coarse_passed(p) and f is not None and self.fine_passes(f),
            None if f is None else f.ssim,
            None if f is None else f.colour,
            self.coarse_passed(p),
            None if f is None else f.detail,
        )


def _keeper_order(f: FileFacts) -> tuple[int, int, float, str]:
    """Sort key: most pixels, then most bytes, then oldest, then path."""
    return (-f.width * f.height, -f.bytes, f.mtime, str(f.path))


def _hints(keeper: FileFacts, other: FileFacts, match: fine.FineMatch | None) -> tuple[str, ...]:
    """What the difference looks like, from the refined alignment."""
    if match is None:
        return ("exact",)
    hints = []
    if match.flipped:
        hints.append("flipped")
    if match.cropped:
        hints.append("cropped")
    elif keeper.width * keeper.height != other.width * other.height:
        hints.append("resized")
    return tuple(hints)


def _as_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return list_images(paths)
    return list(dict.fromkeys(Path(p) for p in paths))


def _limits(
    strictness: StrictnessName | str,
    min_ncc: float | None,
    max_rmse: float | None,
    min_ssim: float | None,
    max_colour: float | None,
    min_detail: float | None = None,
) -> Strictness:
    if strictness not in STRICTNESS:
        raise LookalikeError(
            f"strictness {strictness!r} is not one of {', '.join(STRICTNESS)}; e.g. 'normal'"
        )
    base = asdict(STRICTNESS[strictness])
    given = {
        "min_ncc": min_ncc,
        "max_rmse": max_rmse,
        "min_ssim": min_ssim,
        "max_colour": max_colour,
        "min_detail": min_detail,
    }
    base.update({k: v for k, v in given.items() if v is not None})
    for name in ("min_ncc", "min_ssim", "min_detail"):
        if not 0.0 < base[name] <= 1.0:
            raise LookalikeError(
                f"{name} {base[name]} must be in (0, 1], e.g. {getattr(STRICTNESS['normal'], name)}"
            )
    for name in ("max_rmse", "max_colour"):
        if not 0.0 <= base[name] <= 1.0:
            raise LookalikeError(
                f"{name} {base[name]} must be in [0, 1] (pixels on a 0–1 scale), "
                f"e.g. {getattr(STRICTNESS['normal'], name)}"
            )
    return Strictness(**base)


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
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    embedder: Embedder | None = None,
    vectors: npt.ArrayLike | None = None,
    strictness: StrictnessName | str = "normal",
    min_ncc: float | None = None,
    max_rmse: float | None = None,
    min_ssim: float | None = None,
    max_colour: float | None = None,
    min_detail: float | None = None,
    neighbours: int = 10,
    flips: bool = True,
    crops: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> DedupResult:
    """Group the near-duplicates among ``paths`` (a folder, or image files) and pick a keeper for each group.

    Catches exact copies, re-encodes (e.g. JPEG quality 50), resizes, horizontal flips (``flips``) and
    crops keeping ≥ 90% of the area (``crops``), and keeps apart images that only share a layout — pages of
    different words, windows of one app, objects moved or recoloured. See :mod:`lookalike.dedup` for the
    method. Unreadable files are skipped and listed in :attr:`DedupResult.failures`.

    ``strictness`` picks the thresholds of both checks (:data:`STRICTNESS`); ``min_ncc`` / ``max_rmse``
    (coarse) and ``min_ssim`` / ``min_detail`` / ``max_colour`` (fine) override single ones. Deep features
    only add candidate pairs: pass an ``embedder``, or ``vectors`` with one row per path in the order of
    ``paths`` (after folder listing), e.g. from an index. ``neighbours`` is how many candidates each image
    gets from each source.

    >>> result = find_duplicates(["a.jpg", "a-copy.jpg", "b.jpg"])  # doctest: +SKIP
    >>> [g.paths for g in result.groups]  # doctest: +SKIP
    [[PosixPath('a.jpg'), PosixPath('a-copy.jpg')]]
    """
    import numpy as np

    started = time.perf_counter()
    limits = _limits(strictness, min_ncc, max_rmse, min_ssim, max_colour, min_detail)
    if neighbours < 1:
        raise LookalikeError(f"neighbours {neighbours} must be at least 1, e.g. 10")
    all_paths = _as_paths(paths)
    settings = {
        "strictness": strictness,
        **asdict(limits),
        "neighbours": neighbours,
        "flips": flips,
        "crops": crops,
        "features": embedder is not None or vectors is not None,
    }
    feats: npt.NDArray[np.float32] | None = None
    if vectors is not None:
        feats = np.asarray(vectors, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[0] != len(all_paths):
            raise LookalikeError(
                f"vectors has shape {tuple(feats.shape)}; expected one row per path ({len(all_paths)} rows)"
            )

    read = read_all(all_paths, progress, workers)
    files = read.files
    feats = _file_features(feats, embedder, files, {p: i for i, p in enumerate(all_paths)}, progress)
    stats: dict[str, Any] = {}
    if len(files) < 2:
        return DedupResult([], len(files), read.failures, settings, stats, time.perf_counter() - started)

    # exact copies collapse into one node each: the first file with those bytes
    content = content_ids(files)
    nodes = sorted(set(content))
    thumbs = coarse.Thumbnails.stack([read.thumbs[c] for c in nodes])
    judge = _Judge(
        thumbs,
        [read.fines[c] for c in nodes],
        [files[c].path for c in nodes],
        limits,
        flips=flips,
        crops=crops,
    )
    failures = read.failures
    del read

    # 1. candidates from pixels and, if given, from features
    node_feats = feats[nodes] if feats is not None else None
    ordered, feature_only = _candidates(thumbs, node_feats, neighbours, flips=flips, stats=stats)
    # 2. the coarse check on every candidate, the fine check on those it lets through
    judge.check_coarse(ordered)
    passed = [p for p in ordered if judge.coarse_passed(p)]
    stats["coarse_passed"] = len(passed)
    if crops:
        judge.find_cuts(passed)
    verified = _verify(judge, passed, workers, progress)
    stats["verified_pairs"] = len(verified)
    stats["fine_rejected"] = len(passed) - len(verified)
    if feats is not None:
        stats["verified_from_feature_candidates_only"] = sum(p in feature_only for p in verified)
    # 3. groups: every member a verified duplicate of the keeper itself
    groups = _groups(files, content, nodes, verified, judge)
    stats["fine_checks"] = len(judge.fine)
    rejected = [judge.verdict(p) for p in passed if not judge.fine_passes(judge.fine[p])]
    return DedupResult(groups, len(files), failures, settings, stats, time.perf_counter() - started, rejected)


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


def _candidates(
    thumbs: coarse.Thumbnails,
    feats: npt.NDArray[np.float32] | None,
    neighbours: int,
    *,
    flips: bool,
    stats: dict[str, Any],
) -> tuple[list[Pair], set[Pair]]:
    """Candidate pairs, sorted: each image's nearest 8×8 thumbnails (and mirror images), plus its
    nearest feature vectors; also the pairs only the features proposed."""
    import numpy as np

    plain, mirror = thumbs.candidate_rows
    pairs = coarse.knn_pairs([plain, mirror] if flips else [plain], plain, neighbours)
    stats["pixel_candidates"] = len(pairs)
    feature_only: set[Pair] = set()
    if feats is not None:
        unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        from_features = coarse.knn_pairs([unit], unit, neighbours)
        stats["feature_candidates"] = len(from_features)
        feature_only = from_features - pairs
        stats["feature_only_candidates"] = len(feature_only)
        pairs |= from_features
    return sorted(pairs), feature_only


def _verify(judge: _Judge, passed: list[Pair], workers: int | None, progress: Progress | None) -> list[Pair]:
    """The pairs of ``passed`` that the fine check confirms, checked on a thread pool (Pillow and NumPy
    release the GIL)."""
    verified = []
    pool = ThreadPoolExecutor(max(1, workers if workers is not None else os.cpu_count() or 1))
    try:
        for done, (p, f) in enumerate(zip(passed, pool.map(judge.check_fine, passed), strict=True), 1):
            if judge.fine_passes(f):
                verified.append(p)
            if progress and (done % 64 == 0 or done == len(passed)):
                progress("verifying", done, len(passed))
    finally:  # a progress callback may raise to cancel
        pool.shutdown(wait=True, cancel_futures=True)
    return verified


def _groups(
    files: list[FileFacts], content: list[int], nodes: list[int], verified: list[Pair], judge: _Judge
) -> list[DuplicateGroup]:
    """Groups of files, largest first: keeper-first groups of verified nodes, exact copies beside them."""
    node_of = {c: n for n, c in enumerate(nodes)}
    files_of: dict[int, list[int]] = {}
    for f_index, c in enumerate(content):
        files_of.setdefault(node_of[c], []).append(f_index)

    def node_order(n: int) -> tuple[int, int, float, str]:
        return min(_keeper_order(files[f]) for f in files_of[n])

    node_groups = keeper_first_groups(len(nodes), verified, node_order, judge.duplicate)
    grouped_nodes = {n for g in node_groups for n in g}
    copies_only = [[n] for n, fs in files_of.items() if len(fs) > 1 and n not in grouped_nodes]
    groups: list[DuplicateGroup] = []
    for node_group in node_groups + copies_only:
        keeper_node = node_group[0]
        file_ids = sorted(files_of[keeper_node], key=lambda i: _keeper_order(files[i]))
        keeper = file_ids[0]
        rows = [_member(files[keeper], None, None, keeper=True)]
        rows += [_member(files[i], None, None, keeper=False) for i in file_ids[1:]]
        for n in node_group[1:]:
            pair = (min(keeper_node, n), max(keeper_node, n))
            m, f = judge.coarse[pair], judge.fine[pair]
            for i in sorted(files_of[n], key=lambda i: _keeper_order(files[i])):
                rows.append(_member(files[i], m, f, keeper=False, hints=_hints(files[keeper], files[i], f)))
        groups.append(DuplicateGroup(tuple(rows)))
    groups.sort(key=lambda g: (-len(g.members), str(g.keeper)))
    return groups


def _member(
    f: FileFacts,
    m: coarse.Match | None,
    fm: fine.FineMatch | None,
    *,
    keeper: bool,
    hints: tuple[str, ...] | None = None,
) -> Member:
    return Member(
        path=f.path,
        width=f.width,
        height=f.height,
        bytes=f.bytes,
        mtime=f.mtime,
        keeper=keeper,
        ncc=1.0 if m is None else m.ncc,
        rmse=0.0 if m is None else m.rmse,
        hints=() if keeper else (hints if hints is not None else ("exact",)),
        ssim=1.0 if fm is None else fm.ssim,
        colour=0.0 if fm is None else fm.colour,
        detail=1.0 if fm is None else fm.detail,
    )


def verify_pair(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    strictness: StrictnessName | str = "normal",
    min_ncc: float | None = None,
    max_rmse: float | None = None,
    min_ssim: float | None = None,
    max_colour: float | None = None,
    min_detail: float | None = None,
    flips: bool = True,
    crops: bool = True,
) -> PairCheck:
    """The checks :func:`find_duplicates` applies to a candidate pair, on two files: the coarse scores at
    their best alignment, then (if those pass) the fine scores at the refined alignment, and the verdict.

    >>> verify_pair("beach.jpg", "beach-small.jpg").duplicate  # doctest: +SKIP
    True
    """
    limits = _limits(strictness, min_ncc, max_rmse, min_ssim, max_colour, min_detail)
    (_, ta, fa), (_, tb, fb) = read_one(Path(a)), read_one(Path(b))
    judge = _Judge(
        coarse.Thumbnails.stack([ta, tb]), [fa, fb], [Path(a), Path(b)], limits, flips=flips, crops=crops
    )
    judge.check_coarse([(0, 1)])
    if judge.coarse_passed((0, 1)):
        judge.check_fine((0, 1))
    return judge.verdict((0, 1))
