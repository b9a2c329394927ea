"""Which search hits show the same picture as the query: the duplicate checks of
:func:`~lookalike.dedup.verify_pair` (coarse, fine and close-up) run between a query and the hits a search
shows, so that a copy (re-encoded, resized, turned, mirrored, cropped, framed) stands apart from a picture
that is only alike.

Features cannot decide it: on CIFAR-10 with the shared ResNet-18, planted copies lie at a cosine as low as
0.15 from their original (turned copies: medians 0.49–0.63; framed ones down to 0.39) while the tenth hit
that is not a copy lies at 0.89–0.99 (``benchmarks/search_copies.py``, RESULTS "Search: copy marks"). No
cosine floor keeps the copies shown and leaves out the rest, so every hit shown is checked, best first: at
most :data:`LIMIT` of them, none after ``budget`` seconds (those stay unchecked, ``copy`` None).

The query is read once for all hits (its close-up image only when a pair needs one), the hits on threads
where their files are large enough for threads to help (:func:`~lookalike.dedup.reading.default_workers`);
the coarse check of all hits runs in one batch, then the fine check of those that pass, pairs of large
images on threads (as :func:`~lookalike.dedup.find_duplicates` verifies). A query may be a file or a
picture already decoded (an upload, kept in memory). NumPy and Pillow only.

>>> from lookalike.dedup import mark_copies
>>> marks = mark_copies("photos/cat.jpg", [h.path for h in result.hits])  # doctest: +SKIP
>>> [(m.copy, m.relation) for m in marks]  # doctest: +SKIP
[(True, 'rotated 90° clockwise'), (False, None), (True, 'near-identical')]
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lookalike.dedup import closeup, coarse
from lookalike.dedup.candidates import Candidates
from lookalike.dedup.find import SMALL_SIDE
from lookalike.dedup.groups import relation_hints  # (a duplicate group's words for a copy)
from lookalike.dedup.judge import Judge, Views
from lookalike.dedup.orientation import ALL
from lookalike.dedup.reading import FileRead, default_workers, grey_picture, read_grey, read_one, read_picture
from lookalike.dedup.strictness import Strictness, StrictnessName
from lookalike.errors import ImageError
from lookalike.hashing import file_sha256

if TYPE_CHECKING:
    from PIL import Image

    from lookalike.collection.records import Hit

__all__ = ["BUDGET_S", "LIMIT", "CopyMark", "mark_copies", "same_picture"]

T = TypeVar("T")
R = TypeVar("R")

#: Hits checked at most (the best ones): one check costs 3–6 ms for CIFAR-10 JPEGs and 30 ms (not a copy)
#: to 250 ms (a copy, looked at in close-up) for 2000×1500 photos on 2 cores.
LIMIT = 20
#: No hit is read nor fine check started after this many seconds (those hits stay unchecked): what a search
#: page may wait (a check already running finishes: up to ~0.3 s more for large photos).
BUDGET_S = 1.0


@dataclass(frozen=True)
class CopyMark:
    """The checks' word on one hit: ``copy`` True (the same picture as the query), False (another picture),
    or None (not checked: ``note`` says why). ``relation`` says how the query turns into the copy, as a
    duplicate group's members say it: ``exact`` (same bytes), ``near-identical`` (re-encoded, retouched),
    or hints such as ``rotated 90° clockwise``, ``mirrored``, ``cropped``, ``border added``, ``resized``."""

    copy: bool | None
    relation: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"copy": self.copy, "relation": self.relation}


class _Query:
    """The query, read once: its facts and thumbnails, and its close-up image when a pair first needs it."""

    def __init__(self, query: str | os.PathLike[str] | Image.Image) -> None:
        self.picture: Image.Image | None = None
        if isinstance(query, (str, os.PathLike)):
            self.path = Path(query)
            self.read = read_one(self.path)
        else:
            self.picture = query if query.mode == "RGB" else query.convert("RGB")
            self.path = Path(str(query.info.get("name", "query")))
            self.read = read_picture(self.picture, self.path)
        self._grey: Image.Image | None = None
        self._sha256: str | None = None
        self._lock = threading.Lock()

    def grey(self) -> Image.Image:
        with self._lock:
            if self._grey is None:
                if self.picture is not None:
                    self._grey = grey_picture(self.picture, closeup.SIDE)
                else:
                    self._grey = read_grey(self.path, closeup.SIDE)
            return self._grey

    def same_bytes(self, path: Path) -> bool:
        """Whether ``path`` holds the query file's bytes (hashed only when the sizes agree)."""
        if self.picture is not None or path.stat().st_size != self.read.facts.bytes:
            return False
        with self._lock:
            if self._sha256 is None:
                self._sha256 = file_sha256(self.path)
        return file_sha256(path) == self._sha256


class _QueryJudge(Judge):
    """A :class:`Judge` of the query (node 0) and the hits read (nodes 1…), the query's close-up image read
    once for all of them."""

    def __init__(self, query: _Query, others: list[FileRead], limits: Strictness) -> None:
        reads = [query.read, *others]
        super().__init__(
            coarse.Thumbnails.stack([t for r in reads for t in r.thumbs]),
            Views.of_nodes([r.facts.content for r in reads]),
            [r.fine for r in reads],
            [query.path, *(r.facts.path for r in others)],
            limits,
            orientations=tuple(orientation.code for orientation in ALL),
            crops=True,
            sizes=[(r.facts.width, r.facts.height) for r in reads],
            subject=[r.facts.subject for r in reads],
        )
        self.query = query
        self.facts = [r.facts for r in reads]

    def _grey(self, n: int) -> Image.Image:
        return self.query.grey() if n == 0 else super()._grey(n)

    def check_hits(self) -> list[int]:
        """The coarse check of the query against every hit in one batch (every pair of their views in every
        orientation, as :meth:`Judge.check_pair` does for one pair); the hit nodes that pass it."""
        import numpy as np

        rows = [
            (x, y, code)
            for node in range(1, len(self.paths))
            for x in self.views.of[0]
            for y in self.views.of[node]
            for code in self.orientations
        ]
        a, b, codes = np.asarray(rows, np.intp).reshape(-1, 3).T
        self.check_coarse(Candidates(a, b, codes, self.scores(a, b, codes)), keep_failing=True)
        return [n for n in range(1, len(self.paths)) if self.coarse_passed((0, n))]

    def small(self, node: int) -> bool:
        """Whether the query and hit ``node`` are both small: a fine check threads would only slow down."""
        return max(*self.sizes[0], *self.sizes[node]) <= SMALL_SIDE

    def mark(self, node: int) -> CopyMark:
        """The verdict on hit ``node`` (:func:`~lookalike.dedup.verify_pair`'s), and how the query turns into
        it in the words of a duplicate group (:attr:`~lookalike.dedup.Member.kind`); unchecked when its
        fine check never started."""
        p = (0, node)
        if not self.coarse_passed(p):
            return CopyMark(False)
        match = self.fine.get(p)
        if match is None:
            return CopyMark(None, note="not checked: past the time budget")
        if not self.fine_passes(match):
            return CopyMark(False)
        # match turns the hit to look like the query: its inverse turns the query into the hit
        hints = relation_hints(
            self.facts[0], self.facts[node], match, match.orientation.inverse.code, other_is_a=False
        )
        return CopyMark(True, ", ".join(hints) or "near-identical")


def _read(query: _Query, deadline: float | None, path: Path) -> FileRead | CopyMark:
    """A hit read for the checks, or its mark when it needs none (the query's bytes), cannot be read, or
    comes after the time budget."""
    if deadline is not None and time.perf_counter() > deadline:
        return CopyMark(None, note="not checked: past the time budget")
    try:
        if query.same_bytes(path):
            return CopyMark(True, "exact")
        return read_one(path)
    except ImageError as exc:
        return CopyMark(None, note=f"not checked: {exc}")
    except OSError as exc:
        return CopyMark(None, note=f"not checked: {path}: cannot read ({exc.strerror or exc})")


def _each(fn: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """``fn`` of each item, in order: on ``threads`` threads (in this one when 1)."""
    threads = min(threads, len(items))
    if threads <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))


def mark_copies(
    query: str | os.PathLike[str] | Image.Image,
    hits: Sequence[str | os.PathLike[str] | Hit],
    *,
    strictness: Strictness | StrictnessName | str = "normal",
    limit: int | None = LIMIT,
    budget: float | None = BUDGET_S,
    workers: int | None = None,
) -> list[CopyMark]:
    """A :class:`CopyMark` for each of ``hits`` (files, or search hits), in order: whether it shows the same
    picture as ``query`` by the checks of :func:`~lookalike.dedup.verify_pair` at ``strictness``.

    ``query`` is an image file or a decoded 8-bit RGB picture (as :func:`~lookalike.images.load_image` or
    the web's upload decoder gives it; ``img.info["source_size"]``, when set, is its stored size, and it
    should keep up to 1,536 px of its long side for the close-up). Only the first ``limit`` hits are checked
    (``None``: all), and no hit is read nor fine check started after ``budget`` seconds (``None``: no limit);
    those hits, and hits that cannot be read, are marked ``copy=None`` with a note. An unreadable query
    leaves every hit unchecked. ``workers`` threads read hits and run fine checks at once (default: one
    for small files and images, where threads only contend for the GIL; else as many as cores).

    >>> [m.copy for m in mark_copies("cat.jpg", ["cat-turned.png", "other-cat.jpg"])]  # doctest: +SKIP
    [True, False]
    """
    started = time.perf_counter()
    limits = strictness if isinstance(strictness, Strictness) else Strictness.named(strictness)
    paths = [Path(h) if isinstance(h, (str, os.PathLike)) else Path(h.path) for h in hits]
    todo = paths if limit is None else paths[: max(0, limit)]
    skipped = [CopyMark(None, note=f"not checked: past the first {limit} hits")] * (len(paths) - len(todo))
    if not todo:
        return skipped
    try:
        q = _Query(query)
    except (ImageError, OSError) as exc:
        return [CopyMark(None, note=f"not checked: the query cannot be read ({exc})")] * len(todo) + skipped
    deadline = None if budget is None else started + budget
    cores = os.cpu_count() or 1
    reading = workers if workers is not None else min(cores, default_workers(todo))
    read = _each(partial(_read, q, deadline), todo, reading)
    marks = [r if isinstance(r, CopyMark) else CopyMark(None) for r in read]
    hit_of = [i for i, r in enumerate(read) if isinstance(r, FileRead)]  # node n is hit hit_of[n - 1]
    if not hit_of:
        return marks + skipped
    judge = _QueryJudge(q, [r for r in read if isinstance(r, FileRead)], limits)
    passed = judge.check_hits()

    def fine(node: int) -> None:
        if deadline is None or time.perf_counter() <= deadline:
            judge.check_fine((0, node))

    # as dedup verifies: pairs of small images in this thread, the others on threads (Pillow and NumPy
    # release the GIL on large images)
    _each(fine, [n for n in passed if not judge.small(n)], workers if workers is not None else cores)
    _each(fine, [n for n in passed if judge.small(n)], 1)
    for node, i in enumerate(hit_of, start=1):
        marks[i] = judge.mark(node)
    return marks + skipped


def same_picture(
    query: str | os.PathLike[str] | Image.Image,
    other: str | os.PathLike[str],
    *,
    strictness: Strictness | StrictnessName | str = "normal",
) -> CopyMark:
    """Whether ``other`` (a file) shows the same picture as ``query`` (a file or a decoded picture), and
    how: :func:`mark_copies` of one hit, without a time budget.

    >>> same_picture("cat.jpg", "cat-turned.png")  # doctest: +SKIP
    CopyMark(copy=True, relation='rotated 90° clockwise', note=None)
    """
    return mark_copies(query, [other], strictness=strictness, limit=None, budget=None, workers=1)[0]
