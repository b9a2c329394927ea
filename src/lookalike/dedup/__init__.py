"""Near-duplicate groups in a collection, a keeper for each, and reversible moves of the rest.

Class-trained features cannot tell a copy from another photo of the same kind of thing (with the shared
CIFAR-10 ResNet-18 the nearest *distinct* image has an average cosine of 0.976, and a 50% resize of an
image lands in its original's top 10 only 3% of the time), so duplicates are found from pixels:

1. **Candidates** — every image's ``neighbours`` nearest images by normalized cross-correlation of tiny
   8×8 RGB thumbnails, the image itself and its mirror image as queries (exact search with FAISS); plus,
   when deep feature vectors are given (an :class:`~lookalike.features.Embedder` or precomputed
   ``vectors``, e.g. from an index), each image's nearest images by cosine similarity. Files with the same
   bytes are exact copies without further checks.
2. **Verification** — a pair is a duplicate when its 12×12 RGB thumbnails, at their best alignment, have
   NCC ≥ ``min_ncc`` (same structure) *and* a root-mean-square difference ≤ ``max_rmse`` in [0, 1] pixel
   units (same brightness and contrast, which NCC alone ignores). The alignments tried: as is, mirrored,
   and one side cropped to any of 22 boxes covering ≥ 88% of its area (the other side whole), so
   re-encodes, resizes, flips and crops keeping ≥ 90% of the area all line up.
3. **Groups** — verified pairs are merged strongest first; two groups merge only if every cross pair
   passes the looser ``link_ncc`` / ``link_rmse`` check, so a chain of look-alikes (A≈B≈C, A≠C) does not
   become one group.
4. **Keeper** — the largest pixel count, then the largest file, then the oldest (mtime), then the path.

Nothing is deleted: :func:`move_duplicates` moves the non-keepers into a folder and logs each move to a
JSON-lines file that :func:`undo_moves` reverses.

>>> from lookalike.dedup import find_duplicates, move_duplicates, undo_moves
>>> result = find_duplicates("photos/")  # doctest: +SKIP
>>> [(g.keeper.name, [m.path.name for m in g.duplicates]) for g in result.groups]  # doctest: +SKIP
[('beach.jpg', ['beach-small.jpg', 'beach-copy.jpg'])]
>>> log = move_duplicates(result, "duplicates/")  # doctest: +SKIP
>>> undo_moves(log)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError, LookalikeError
from lookalike.images import image_size, list_images, load_image

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch

    from lookalike.features import Embedder

__all__ = [
    "DedupResult",
    "DuplicateGroup",
    "Member",
    "Move",
    "PairCheck",
    "UndoReport",
    "find_duplicates",
    "move_duplicates",
    "plan_moves",
    "read_move_log",
    "undo_moves",
    "verify_pair",
]

#: ``progress(stage, done, total)``: stage is "reading", "embedding" or "verifying".
Progress = Callable[[str, int, int], None]

# Thumbnails. BASE is what is kept per image (uint8 RGB, 3 KB); CANDIDATE feeds the nearest-neighbour
# search, VERIFY the pixel check. At 12×12, JPEG (quality 50) re-encodes, 50% resizes and crops of 32×32
# CIFAR-10 images stay within NCC ≥ 0.96 and RMSE ≤ 0.057 of their original, while distinct photos of a
# class stay apart (benchmarks/dedup.py, 2 × 600 planted variants among 5,000 images).
BASE = 32
CANDIDATE = 8
VERIFY = 12
# A pair goes on to the crop search only if its 8×8 thumbnails (as is or mirrored) correlate this well:
# crops keeping ≥ 90% of the area score at least 0.85 there.
CROP_PREFILTER = 0.8
# Two thumbnails whose pixels vary less than this (std, [0, 1] units) are flat: NCC is undefined for
# them, so flat pairs count as matching structure and only their RMSE decides.
FLAT_STD = 2 / 255
#: Default thresholds of the pixel check (see :func:`find_duplicates`).
MIN_NCC = 0.95
MAX_RMSE = 0.06
MOVE_LOG_FORMAT = "lookalike-dedup-moves"
MOVE_LOG_VERSION = 1


def _crop_boxes() -> list[tuple[float, float, float, float]]:
    """The whole image first, then boxes with sides in {1, 0.95, 0.9} covering ≥ 88% of the area, at the
    start, middle and end of each axis that is cut: 22 boxes as (x0, y0, x1, y1) fractions."""
    boxes = [(0.0, 0.0, 1.0, 1.0)]
    sides = (1.0, 0.95, 0.9)
    for w, h in itertools.product(sides, sides):
        if (w, h) == (1.0, 1.0) or w * h < 0.88 - 1e-9:
            continue
        xs = (0.0,) if w == 1.0 else (0.0, (1 - w) / 2, 1 - w)
        ys = (0.0,) if h == 1.0 else (0.0, (1 - h) / 2, 1 - h)
        boxes += [(x, y, x + w, y + h) for x in xs for y in ys]
    return boxes


CROP_BOXES = _crop_boxes()


# ----------------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Member:
    """One file of a duplicate group and how it relates to the group's keeper.

    ``ncc`` and ``rmse`` compare it with the keeper at their best alignment (1.0 and 0.0 for the keeper
    and for exact copies). ``hints`` say what the difference looks like: ``exact`` (same bytes),
    ``flipped``, ``cropped``, ``resized``; empty for a near-identical image (e.g. re-encoded).
    """

    path: Path
    width: int
    height: int
    bytes: int
    mtime: float
    keeper: bool
    ncc: float
    rmse: float
    hints: tuple[str, ...] = ()

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def kind(self) -> str:
        """``keeper``, or the hints joined by ``+`` (``near-identical`` when there are none)."""
        if self.keeper:
            return "keeper"
        return "+".join(self.hints) or "near-identical"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "keeper": self.keeper,
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
            "mtime": self.mtime,
            "ncc": round(self.ncc, 5),
            "rmse": round(self.rmse, 5),
        }


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that show the same picture; ``members[0]`` is the keeper, the rest are its duplicates."""

    members: tuple[Member, ...]

    @property
    def keeper(self) -> Path:
        return self.members[0].path

    @property
    def duplicates(self) -> tuple[Member, ...]:
        return self.members[1:]

    @property
    def paths(self) -> list[Path]:
        return [m.path for m in self.members]

    def to_dict(self) -> dict[str, Any]:
        return {"keeper": str(self.keeper), "members": [m.to_dict() for m in self.members]}


@dataclass
class DedupResult:
    """What :func:`find_duplicates` found: groups (largest first), files it could not read, and settings."""

    groups: list[DuplicateGroup]
    images: int
    failures: list[tuple[Path, str]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """How many files are not keepers (what ``--move-to`` would move)."""
        return sum(len(g.duplicates) for g in self.groups)

    def group_of(self, path: str | os.PathLike[str]) -> DuplicateGroup | None:
        """The group that holds ``path``, or ``None``."""
        target = Path(path)
        return next((g for g in self.groups if target in g.paths), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "groups": [g.to_dict() for g in self.groups],
            "duplicates": self.duplicates,
            "failures": [{"path": str(p), "reason": r} for p, r in self.failures],
            "settings": self.settings,
            "stats": self.stats,
            "seconds": round(self.seconds, 3),
        }


# ----------------------------------------------------------------------------------------------------------
# Reading the files


@dataclass
class _File:
    path: Path
    width: int
    height: int
    bytes: int
    mtime: float


def _read_one(path: Path) -> tuple[_File, npt.NDArray[np.uint8]]:
    """Facts and a BASE×BASE RGB thumbnail (the whole image, squashed to a square) of one file."""
    import numpy as np
    from PIL import Image

    width, height = image_size(path)  # raises ImageError for every way a file can be unreadable
    img = load_image(path, draft=(BASE, BASE))
    thumb = np.asarray(img.resize((BASE, BASE), Image.Resampling.BILINEAR), dtype=np.uint8)
    st = path.stat()
    return _File(path, width, height, st.st_size, st.st_mtime), thumb


def _read_all(
    paths: Sequence[Path], progress: Progress | None, workers: int | None
) -> tuple[list[_File], list[npt.NDArray[np.uint8]], list[tuple[Path, str]]]:
    from concurrent.futures import ThreadPoolExecutor

    files: list[_File] = []
    thumbs: list[npt.NDArray[np.uint8]] = []
    failures: list[tuple[Path, str]] = []

    def task(p: Path) -> tuple[_File, npt.NDArray[np.uint8]] | str:
        try:
            return _read_one(p)
        except ImageError as exc:
            return str(exc)
        except OSError as exc:
            return f"{p}: cannot read ({exc.strerror or exc}); check the file"

    n_workers = workers if workers is not None else min(8, (os.cpu_count() or 1) + 2)
    pool = ThreadPoolExecutor(max(1, n_workers))
    try:
        for done, (path, out) in enumerate(zip(paths, pool.map(task, paths), strict=True), 1):
            if isinstance(out, str):
                failures.append((path, out))
            else:
                files.append(out[0])
                thumbs.append(out[1])
            if progress and (done % 256 == 0 or done == len(paths)):
                progress("reading", done, len(paths))
    finally:  # a progress callback may raise to cancel: drop the reads not started yet
        pool.shutdown(wait=True, cancel_futures=True)
    return files, thumbs, failures


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _content_ids(files: Sequence[_File]) -> list[int]:
    """An id per file, equal for files with the same bytes (hashes only files whose size is shared)."""
    by_size: dict[int, list[int]] = {}
    for i, f in enumerate(files):
        by_size.setdefault(f.bytes, []).append(i)
    ids = list(range(len(files)))
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        first: dict[str, int] = {}
        for i in same_size:
            try:
                digest = _sha256(files[i].path)
            except OSError:
                continue
            ids[i] = first.setdefault(digest, i)
    return ids


# ----------------------------------------------------------------------------------------------------------
# Pixel signatures and the verifier


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows minus their mean, scaled to length 1 (a constant row becomes zero)."""
    import torch

    x = x - x.mean(-1, keepdim=True)
    out: torch.Tensor = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-12)
    return out


def _small(base: torch.Tensor, size: int) -> torch.Tensor:
    """N×3×BASE×BASE floats in [0, 1] → N×(3·size²) area-averaged thumbnails."""
    from torch.nn.functional import interpolate

    out: torch.Tensor = interpolate(base, size=(size, size), mode="area").flatten(1)
    return out


@dataclass
class _Pixels:
    """The BASE×BASE thumbnails of every image (uint8 N×3×BASE×BASE: 3 KB an image), read as [0, 1]."""

    base: torch.Tensor

    @classmethod
    def stack(cls, thumbs: Sequence[npt.NDArray[np.uint8]]) -> _Pixels:
        import numpy as np
        import torch

        return cls(torch.from_numpy(np.stack(thumbs)).permute(0, 3, 1, 2).contiguous())

    def floats(self, ix: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        return self.base[ix].float() / 255

    def shrunk(self, size: int) -> torch.Tensor:
        """N×(3·size²): every whole image area-averaged to size×size, 4096 images at a time."""
        import torch

        step = 4096
        return torch.cat(
            [_small(self.floats(slice(i, i + step)), size) for i in range(0, len(self.base), step)]
        )

    @cached_property
    def whole(self) -> torch.Tensor:
        """N×(3·VERIFY²): each whole image at the verification size."""
        return self.shrunk(VERIFY)

    def candidate_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-length centred 8×8 thumbnails of each image and of its mirror image."""
        small = self.shrunk(CANDIDATE)
        mirrored = small.view(-1, 3, CANDIDATE, CANDIDATE).flip(-1).flatten(1)
        return _unit_rows(small), _unit_rows(mirrored)

    def views(self, ix: torch.Tensor, boxes: Sequence[tuple[float, float, float, float]]) -> torch.Tensor:
        """len(ix)×len(boxes)×(3·VERIFY²): each box of each image resized to VERIFY×VERIFY."""
        import torch
        from torchvision.ops import roi_align

        n, nb = len(ix), len(boxes)
        if nb == 1 and boxes[0] == (0.0, 0.0, 1.0, 1.0):
            return self.whole[ix].view(n, 1, -1)
        box = torch.tensor(boxes, dtype=torch.float32) * BASE
        rois = torch.cat([torch.arange(n).repeat_interleave(nb)[:, None].float(), box.repeat(n, 1)], 1)
        out: torch.Tensor = roi_align(
            self.floats(ix), rois, (VERIFY, VERIFY), spatial_scale=1.0, sampling_ratio=2, aligned=True
        )
        return out.reshape(n, nb, -1)


def _mirror(views: torch.Tensor) -> torch.Tensor:
    """n×boxes×(3·VERIFY²) views, each flipped left to right."""
    n, nb, d = views.shape
    return views.view(n, nb, 3, VERIFY, VERIFY).flip(-1).reshape(n, nb, d)


@dataclass
class _Match:
    """The best alignment of a pair (a, b): NCC, RMSE, whether b was mirrored, and which side was cropped
    to which box (0 = the whole image)."""

    ncc: float
    rmse: float
    flipped: bool
    cropped: str  # "", "a" or "b": the side whose box was cut
    box: int


def _verify(
    pixels: _Pixels,
    pairs: Sequence[tuple[int, int]],
    boxes: Sequence[tuple[float, float, float, float]],
    *,
    flips: bool = True,
) -> list[_Match]:
    """The best alignment of each pair (a, b): b as is or mirrored (``flips``), × a cropped to each box
    against b whole, or a whole against b cropped to each box. Best = highest NCC; RMSE is taken there."""
    import torch

    alignments = [
        (crop_a, mirror) for mirror in (False, True)[: 2 if flips else 1] for crop_a in (True, False)
    ]
    if len(boxes) == 1:  # whole against whole: cropping either side is the same comparison
        alignments = [(True, mirror) for _, mirror in alignments[::2]]
    out: list[_Match] = []
    chunk = max(256, (1 << 22) // (len(boxes) * 3 * VERIFY * VERIFY))  # gathers of ≤ 16 MB
    for start in range(0, len(pairs), chunk):
        part = torch.tensor(list(pairs[start : start + chunk]), dtype=torch.int64).view(-1, 2)
        uniq, inv = torch.unique(part.flatten(), return_inverse=True)
        a, b = inv.view(-1, 2).unbind(1)
        raw = pixels.views(uniq, boxes)  # n×boxes×D, each view of each image once
        unit, flat = _unit_rows(raw), raw.std(-1) < FLAT_STD
        sides = {False: (raw, unit), True: (_mirror(raw), _mirror(unit)) if flips else (raw, unit)}
        rows = torch.arange(len(a))
        nccs, picks = [], []
        for crop_a, mirror in alignments:
            # the cropped side (every box) against the other side whole
            x_unit, x_flat = (unit[a], flat[a]) if crop_a else (sides[mirror][1][b], flat[b])
            y_unit, y_flat = (sides[mirror][1][b, 0], flat[b, 0]) if crop_a else (unit[a, 0], flat[a, 0])
            ncc = torch.einsum("pkd,pd->pk", x_unit, y_unit)
            # flat on both sides: no structure to differ, so only the RMSE (brightness) decides
            best, k = torch.where(x_flat & y_flat[:, None], torch.ones_like(ncc), ncc).max(1)
            nccs.append(best)
            picks.append(k)
        scores = torch.stack(nccs, 1)
        which = scores.argmax(1)
        box = torch.stack(picks, 1)[rows, which]
        x = torch.empty(len(a), raw.shape[-1])
        y = torch.empty_like(x)
        for w, (crop_a, mirror) in enumerate(alignments):
            sel = which == w
            if not bool(sel.any()):
                continue
            b_raw = sides[mirror][0]
            ia, ib, kb = a[sel], b[sel], box[sel]
            x[sel] = raw[ia, kb] if crop_a else b_raw[ib, kb]
            y[sel] = b_raw[ib, 0] if crop_a else raw[ia, 0]
        rmse = (x - y).square().mean(1).sqrt()
        for p, w in enumerate(which.tolist()):
            crop_a, mirror = alignments[w]
            box_index = int(box[p])
            out.append(
                _Match(
                    ncc=min(1.0, float(scores[p, w])),
                    rmse=float(rmse[p]),
                    flipped=mirror,
                    cropped=("a" if crop_a else "b") if box_index else "",
                    box=box_index,
                )
            )
    return out


# ----------------------------------------------------------------------------------------------------------
# Candidates


def _knn_pairs(queries: Sequence[torch.Tensor], base: torch.Tensor, k: int) -> set[tuple[int, int]]:
    """Pairs (i, j), i < j, where j is among the k nearest rows of ``base`` (inner product) to row i of
    any query matrix; exact search with FAISS."""
    import faiss
    import numpy as np

    n = base.shape[0]
    k = min(k + 1, n)  # + the image itself
    if n < 2 or k < 2:
        return set()
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base.numpy(), dtype=np.float32))
    pairs: set[tuple[int, int]] = set()
    for q in queries:
        _, nn = index.search(np.ascontiguousarray(q.numpy(), dtype=np.float32), k)
        for i, row in enumerate(nn.tolist()):
            for j in row:
                if j >= 0 and j != i:
                    pairs.add((i, j) if i < j else (j, i))
    return pairs


def _embed(
    embedder: Embedder, paths: Sequence[Path], progress: Progress | None
) -> tuple[torch.Tensor, list[tuple[int, str]]]:
    import torch

    vectors = torch.zeros(len(paths), embedder.dim)
    failures: list[tuple[int, str]] = []
    done = 0
    for batch in embedder.iter_files(paths):
        vectors[batch.indices] = batch.vectors
        failures += batch.failures
        done += len(batch.indices) + len(batch.failures)
        if progress:
            progress("embedding", done, len(paths))
    return vectors, failures


# ----------------------------------------------------------------------------------------------------------
# Grouping


class _Clusters:
    """Merges verified pairs strongest first; two clusters merge only if every cross pair is linked."""

    def __init__(self, n: int, linked: Callable[[list[tuple[int, int]]], list[bool]]) -> None:
        self.root = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.linked = linked

    def find(self, i: int) -> int:
        while self.root[i] != i:
            self.root[i] = self.root[self.root[i]]
            i = self.root[i]
        return i

    def merge(self, i: int, j: int) -> bool:
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return False
        cross = [(a, b) for a in self.members[ri] for b in self.members[rj] if (a, b) != (i, j)]
        if cross and not all(self.linked(cross)):
            return False
        if len(self.members[ri]) < len(self.members[rj]):
            ri, rj = rj, ri
        self.root[rj] = ri
        self.members[ri] += self.members.pop(rj)
        return True

    def clusters(self) -> list[list[int]]:
        """Every cluster, single nodes included."""
        return list(self.members.values())


def _keeper_order(f: _File) -> tuple[int, int, float, str]:
    """Sort key: most pixels, then most bytes, then oldest, then path."""
    return (-f.width * f.height, -f.bytes, f.mtime, str(f.path))


def _hints(keeper: _File, other: _File, match: _Match | None) -> tuple[str, ...]:
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
    listed = list(dict.fromkeys(Path(p) for p in paths))
    return listed


def find_duplicates(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    embedder: Embedder | None = None,
    vectors: torch.Tensor | npt.ArrayLike | None = None,
    min_ncc: float = MIN_NCC,
    max_rmse: float = MAX_RMSE,
    link_ncc: float = 0.90,
    link_rmse: float = 0.10,
    neighbours: int = 10,
    flips: bool = True,
    crops: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> DedupResult:
    """Group the near-duplicates among ``paths`` (a folder, or image files) and pick a keeper for each group.

    Catches exact copies, re-encodes (e.g. JPEG quality 50), resizes, horizontal flips (``flips``) and
    crops keeping ≥ 90% of the area (``crops``); see the module docstring for the method. Unreadable files
    are skipped and listed in :attr:`DedupResult.failures`.

    Deep features only add candidate pairs (every pair is verified on pixels): pass an ``embedder`` to
    embed the files, or ``vectors`` with one row per path in the order of ``paths`` (after folder
    listing) to reuse vectors computed before, e.g. by an index. Without either, candidates come from
    pixels alone, which finds every planted variant in ``benchmarks/dedup.py``.

    ``min_ncc`` / ``max_rmse`` decide a duplicate pair; ``link_ncc`` / ``link_rmse`` (looser) decide
    whether two groups may merge; ``neighbours`` is how many candidates each image gets from each source.

    >>> result = find_duplicates(["a.jpg", "a-copy.jpg", "b.jpg"])  # doctest: +SKIP
    >>> [g.paths for g in result.groups]  # doctest: +SKIP
    [[PosixPath('a.jpg'), PosixPath('a-copy.jpg')]]
    """
    import numpy as np
    import torch

    started = time.perf_counter()
    for name, value, example in (("min_ncc", min_ncc, MIN_NCC), ("link_ncc", link_ncc, 0.9)):
        if not 0.0 < value <= 1.0:
            raise LookalikeError(f"{name} {value} must be in (0, 1], e.g. {example}")
    for name, value, example in (("max_rmse", max_rmse, MAX_RMSE), ("link_rmse", link_rmse, 0.1)):
        if not 0.0 <= value <= 1.0:
            raise LookalikeError(f"{name} {value} must be in [0, 1] (pixels on a 0–1 scale), e.g. {example}")
    if neighbours < 1:
        raise LookalikeError(f"neighbours {neighbours} must be at least 1, e.g. 10")
    all_paths = _as_paths(paths)
    settings = {
        "min_ncc": min_ncc,
        "max_rmse": max_rmse,
        "link_ncc": link_ncc,
        "link_rmse": link_rmse,
        "neighbours": neighbours,
        "flips": flips,
        "crops": crops,
        "features": embedder is not None or vectors is not None,
    }
    feats: torch.Tensor | None = None
    if vectors is not None:
        feats = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if feats.ndim != 2 or feats.shape[0] != len(all_paths):
            raise LookalikeError(
                f"vectors has shape {tuple(feats.shape)}; expected one row per path ({len(all_paths)} rows)"
            )

    files, thumbs, failures = _read_all(all_paths, progress, workers)
    position = {p: i for i, p in enumerate(all_paths)}
    keep_rows = [position[f.path] for f in files]
    if feats is None and embedder is not None and files:
        feats, bad = _embed(embedder, [f.path for f in files], progress)
        if bad:  # readable for the thumbnail but not for the network: keep it, pixels still decide
            feats[[i for i, _ in bad]] = 0.0
    elif feats is not None:
        feats = feats[keep_rows]

    stats: dict[str, Any] = {}
    if len(files) < 2:
        return DedupResult([], len(files), failures, settings, stats, time.perf_counter() - started)

    # exact copies collapse into one node each: the first file with those bytes
    content = _content_ids(files)
    nodes = sorted(set(content))
    node_of = {c: n for n, c in enumerate(nodes)}
    pixels = _Pixels.stack([thumbs[c] for c in nodes])
    del thumbs

    # 1. candidates
    plain, mirror = pixels.candidate_rows()
    pairs = _knn_pairs([plain, mirror] if flips else [plain], plain, neighbours)
    stats["pixel_candidates"] = len(pairs)
    if feats is not None:
        node_feats = torch.nn.functional.normalize(feats[nodes], dim=1)
        from_features = _knn_pairs([node_feats], node_feats, neighbours)
        stats["feature_candidates"] = len(from_features)
        feature_only = from_features - pairs
        stats["feature_only_candidates"] = len(feature_only)
        pairs |= from_features
    ordered = sorted(pairs)

    # 2. verification: whole images (as is / mirrored) first; the crop search only where that fails
    # and the 8×8 thumbnails agree well enough for a crop
    whole = [(0.0, 0.0, 1.0, 1.0)]
    boxes = CROP_BOXES if crops else whole
    matches = dict(zip(ordered, _verify(pixels, ordered, whole, flips=flips), strict=True))

    def passes(m: _Match, ncc: float, rmse: float) -> bool:
        return m.ncc >= ncc and m.rmse <= rmse

    if crops:
        retry = [p for p, m in matches.items() if not passes(m, min_ncc, max_rmse)]
        if retry:
            a, b = torch.tensor(retry).unbind(1)
            s8 = (plain[a] * plain[b]).sum(1)
            if flips:
                s8 = torch.maximum(s8, (plain[a] * mirror[b]).sum(1))
            retry = [p for p, s in zip(retry, s8.tolist(), strict=True) if s >= CROP_PREFILTER]
        stats["crop_searches"] = len(retry)
        step = 4096
        for start in range(0, len(retry), step):
            part = retry[start : start + step]
            for p, m in zip(part, _verify(pixels, part, CROP_BOXES, flips=flips), strict=True):
                if m.ncc > matches[p].ncc:
                    matches[p] = m
            if progress:
                progress("verifying", min(start + step, len(retry)), len(retry))
    verified = sorted(
        (p for p, m in matches.items() if passes(m, min_ncc, max_rmse)),
        key=lambda p: (-matches[p].ncc, matches[p].rmse, p),
    )
    stats["verified_pairs"] = len(verified)
    if feats is not None:
        stats["verified_from_feature_candidates_only"] = sum(p in feature_only for p in verified)

    # 3. groups, guarded against chains
    def linked(cross: list[tuple[int, int]]) -> list[bool]:
        keys = [(min(p), max(p)) for p in cross]
        todo = [p for p in dict.fromkeys(keys) if p not in matches]
        for p, m in zip(todo, _verify(pixels, todo, boxes, flips=flips), strict=True):
            matches[p] = m
        return [passes(matches[p], link_ncc, link_rmse) for p in keys]

    clusters = _Clusters(len(nodes), linked)
    for i, j in verified:
        clusters.merge(i, j)

    # 4. keepers, and each member against its keeper (exact copies come back as members here)
    files_of: dict[int, list[int]] = {}
    for f_index, c in enumerate(content):
        files_of.setdefault(node_of[c], []).append(f_index)
    ranked: list[list[int]] = []
    for node_group in clusters.clusters():
        file_ids = sorted((f for n in node_group for f in files_of[n]), key=lambda i: _keeper_order(files[i]))
        if len(file_ids) > 1:
            ranked.append(file_ids)
    to_keeper_pairs = [(ids[0], i) for ids in ranked for i in ids[1:] if content[i] != content[ids[0]]]
    against = _verify(
        pixels, [(node_of[content[k]], node_of[content[i]]) for k, i in to_keeper_pairs], boxes, flips=flips
    )
    to_keeper = dict(zip(to_keeper_pairs, against, strict=True))
    groups: list[DuplicateGroup] = []
    for file_ids in ranked:
        keeper = file_ids[0]
        rows = []
        for i in file_ids:
            f, match = files[i], to_keeper.get((keeper, i))
            rows.append(
                Member(
                    path=f.path,
                    width=f.width,
                    height=f.height,
                    bytes=f.bytes,
                    mtime=f.mtime,
                    keeper=i == keeper,
                    ncc=1.0 if match is None else match.ncc,
                    rmse=0.0 if match is None else match.rmse,
                    hints=() if i == keeper else _hints(files[keeper], f, match),
                )
            )
        groups.append(DuplicateGroup(tuple(rows)))
    groups.sort(key=lambda g: (-len(g.members), str(g.keeper)))
    return DedupResult(groups, len(files), failures, settings, stats, time.perf_counter() - started)


@dataclass(frozen=True)
class PairCheck:
    """The pixel verdict on two images at their best alignment (see :func:`verify_pair`)."""

    a: Path
    b: Path
    ncc: float
    rmse: float
    flipped: bool
    cropped: bool
    duplicate: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": str(self.a),
            "b": str(self.b),
            "ncc": round(self.ncc, 5),
            "rmse": round(self.rmse, 5),
            "flipped": self.flipped,
            "cropped": self.cropped,
            "duplicate": self.duplicate,
        }


def verify_pair(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    min_ncc: float = MIN_NCC,
    max_rmse: float = MAX_RMSE,
    flips: bool = True,
    crops: bool = True,
) -> PairCheck:
    """The check :func:`find_duplicates` applies to a candidate pair, on two files: NCC and RMSE of their
    12×12 thumbnails at the best alignment, and whether that makes them duplicates.

    >>> verify_pair("beach.jpg", "beach-small.jpg").duplicate  # doctest: +SKIP
    True
    """

    (_, ta), (_, tb) = _read_one(Path(a)), _read_one(Path(b))
    pixels = _Pixels.stack([ta, tb])
    whole = [(0.0, 0.0, 1.0, 1.0)]
    m = _verify(pixels, [(0, 1)], whole, flips=flips)[0]
    if crops and not (m.ncc >= min_ncc and m.rmse <= max_rmse):
        cropped = _verify(pixels, [(0, 1)], CROP_BOXES, flips=flips)[0]
        m = cropped if cropped.ncc > m.ncc else m
    return PairCheck(
        Path(a), Path(b), m.ncc, m.rmse, m.flipped, bool(m.cropped), m.ncc >= min_ncc and m.rmse <= max_rmse
    )


# ----------------------------------------------------------------------------------------------------------
# Moving duplicates away, and back


@dataclass(frozen=True)
class Move:
    """One file to move (or moved) from ``source`` to ``target``."""

    source: Path
    target: Path

    def to_dict(self) -> dict[str, str]:
        return {"source": str(self.source), "target": str(self.target)}


@dataclass
class UndoReport:
    """What :func:`undo_moves` did: files put back, and files that were already in place."""

    log: Path
    restored: list[Move]
    already_in_place: list[Move]

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": str(self.log),
            "restored": [m.to_dict() for m in self.restored],
            "already_in_place": [m.to_dict() for m in self.already_in_place],
        }


def _free_name(target: Path, taken: set[Path]) -> Path:
    """``target``, or ``stem-1.ext``, ``stem-2.ext``, … : the first name that no file has and no other
    planned move takes."""
    candidate, n = target, 0
    while candidate in taken or os.path.lexists(candidate):
        n += 1
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
    return candidate


def plan_moves(
    result: DedupResult, dest: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> list[Move]:
    """Where :func:`move_duplicates` would put each non-keeper: ``dest`` + its path relative to ``root``
    (default: the folder that holds all the groups' files), renamed ``name-1.jpg``, ``name-2.jpg``, … when
    that name is taken. Keepers never move; nothing is touched.

    >>> [(m.source.name, m.target) for m in plan_moves(result, "dups")]  # doctest: +SKIP
    [('beach-copy.jpg', PosixPath('/home/me/dups/beach-copy.jpg'))]
    """
    sources = [m.path.absolute() for g in result.groups for m in g.duplicates]
    if not sources:
        return []
    top = Path(dest).absolute()
    if top.exists() and not top.is_dir():
        raise LookalikeError(
            f"--move-to {dest}: is a file, not a folder; pass a folder (it is created if missing)"
        )
    if root is None:
        base = Path(os.path.commonpath([str(p.parent) for p in sources]))
    else:
        base = Path(root).absolute()
    taken: set[Path] = set()
    moves = []
    for src in sources:
        try:
            rel = src.relative_to(base)
        except ValueError:
            rel = Path(src.name)
        target = _free_name(top / rel, taken)
        taken.add(target)
        moves.append(Move(src, target))
    return moves


def _move_file(source: Path, target: Path) -> None:
    """Move one file, never over an existing one (a same-disk move is a rename: bytes and mtime stay)."""
    if os.path.lexists(target):
        raise LookalikeError(f"{target} already exists; lookalike never overwrites files")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(os.fspath(source), os.fspath(target))


def _default_log(dest: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return _free_name(dest / f"lookalike-dedup-{stamp}.jsonl", set())


def move_duplicates(
    result: DedupResult,
    dest: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    log: str | os.PathLike[str] | None = None,
) -> Path:
    """Move every non-keeper into ``dest`` (as :func:`plan_moves` says) and return the log of the moves.

    Nothing is deleted or overwritten. The log (JSON lines: a header, then one line per file, written
    before the file moves) defaults to ``dest/lookalike-dedup-<time>.jsonl``; :func:`undo_moves` reverses
    it, also after an interrupted run.

    >>> log = move_duplicates(result, "dups")  # doctest: +SKIP
    >>> undo_moves(log).restored  # doctest: +SKIP
    """
    moves = plan_moves(result, dest, root=root)
    missing = [m.source for m in moves if not os.path.lexists(m.source)]
    if missing:
        raise LookalikeError(
            f"{missing[0]} is gone since the scan ({len(missing)} file(s) in all); run dedup again"
        )
    top = Path(dest).absolute()
    top.mkdir(parents=True, exist_ok=True)
    log_path = Path(log).absolute() if log is not None else _default_log(top)
    if os.path.lexists(log_path):
        raise LookalikeError(f"{log_path} already exists; pass another log file name")
    header = {
        "format": MOVE_LOG_FORMAT,
        "version": MOVE_LOG_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dest": str(top),
        "files": len(moves),
    }
    done = 0
    with log_path.open("x", encoding="utf-8") as fp:
        fp.write(json.dumps(header, ensure_ascii=False) + "\n")
        for m in moves:
            fp.write(json.dumps(m.to_dict(), ensure_ascii=False) + "\n")
            fp.flush()
            os.fsync(fp.fileno())  # the log knows of a move before it happens
            try:
                _move_file(m.source, m.target)
            except (OSError, LookalikeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise LookalikeError(
                    f"cannot move {m.source} to {m.target} ({reason}); {done} file(s) moved so far, "
                    f"put them back with: lookalike dedup --undo {log_path}"
                ) from None
            done += 1
    return log_path


def read_move_log(log: str | os.PathLike[str]) -> list[Move]:
    """The moves recorded in a log written by :func:`move_duplicates`, in the order they were made."""
    path = Path(log)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LookalikeError(f"{log}: no such move log; pass the .jsonl file that --move-to wrote") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LookalikeError(f"{log}: cannot read the move log ({exc})") from None
    try:
        header = json.loads(lines[0]) if lines else {}
        if header.get("format") != MOVE_LOG_FORMAT:
            raise ValueError
        moves = [
            Move(Path(d["source"]), Path(d["target"])) for d in map(json.loads, lines[1:] if lines else [])
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LookalikeError(
            f"{log}: not a lookalike dedup move log; pass the .jsonl file that --move-to wrote"
        ) from None
    if header.get("version", 0) > MOVE_LOG_VERSION:
        raise LookalikeError(
            f"{log}: written by a newer lookalike (log version {header['version']}); upgrade"
        )
    return moves


def undo_moves(log: str | os.PathLike[str]) -> UndoReport:
    """Put every file that a :func:`move_duplicates` log moved back where it was.

    All-or-nothing checks come first: if any original location is occupied again, or a moved file can be
    found in neither place, nothing moves and the error names it. Files already back in place (an undo run
    twice, or a move the interrupted run never made) are left alone.
    """
    moves = read_move_log(log)
    to_restore: list[Move] = []
    in_place: list[Move] = []
    for m in moves:
        at_source, at_target = os.path.lexists(m.source), os.path.lexists(m.target)
        if at_source and at_target:
            raise LookalikeError(
                f"cannot undo: {m.source} exists again and {m.target} is still there; move one of them "
                "away and run the undo again (nothing was moved)"
            )
        if not at_source and not at_target:
            raise LookalikeError(
                f"cannot undo: {m.target} (moved from {m.source}) is missing; put it back and run the "
                "undo again (nothing was moved)"
            )
        (in_place if at_source else to_restore).append(m)
    restored = []
    for m in reversed(to_restore):
        _move_file(m.target, m.source)
        restored.append(m)
    restored.reverse()
    return UndoReport(Path(log), restored, in_place)
