"""What an index holds and what its operations answer: plain records, no behaviour.

:class:`Entry` is a row of the catalogue (an image file), :class:`Failure` a file or folder that
:func:`~lookalike.collection.index_folder` skipped, :class:`UpdateReport` what an update did, and
:class:`Hit` / :class:`SearchResult` what a search found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from lookalike.scanning import Skipped

__all__ = ["Entry", "Failure", "Hit", "Progress", "SearchResult", "UpdateReport", "entry_from_row"]

#: Progress callback: ``(phase, done, total)`` with phase ``scan``, ``hash``, ``embed`` or ``search``.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Entry:
    """One image file of an index: ``path`` is relative to the indexed folder, ``/``-separated.

    ``vector`` is the row of its vector in the vectors file (``None`` unless ``status`` is ``ok``);
    ``error`` says why a ``failed`` file could not be embedded.
    """

    path: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    width: int | None = None
    height: int | None = None
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    vector: int | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def entry_from_row(row: Sequence[Any]) -> Entry:
    """The :class:`Entry` of a catalogue row selected as :data:`lookalike.collection.store.COLUMNS`."""
    return Entry(
        id=row[0],
        path=row[1],
        size=row[2],
        mtime_ns=row[3],
        sha256=row[4],
        width=row[5],
        height=row[6],
        vector=row[7],
        status=row[8],
        error=row[9],
    )


@dataclass(frozen=True)
class Failure:
    """A file (or a folder that could not be listed) skipped by :func:`index_folder`, and why."""

    path: str
    reason: str
    kind: Literal["file", "folder"] = "file"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UpdateReport:
    """What :func:`index_folder` did.

    ``new`` and ``changed`` files were embedded (``changed`` replaced an older vector), ``moved`` files
    took over the vector of a removed file with the same content, ``unchanged`` ones were kept (a file
    whose mtime changed but whose content did not counts here), ``removed`` rows belonged to files that
    are gone, and ``failed`` lists the files and folders that were skipped, with reasons. ``skipped``
    counts the files the scan passed over by kind (a format whose reader is not installed, files of
    unknown type, files and folders excluded by pattern). ``exclude`` lists the glob patterns this run left
    out (:func:`lookalike.scanning.scan_images`), and ``exclude_before`` the ones the index had before when
    this run changed them (``None`` when it did not). ``images`` is the number of searchable images
    afterwards.
    """

    location: Path
    root: Path
    new: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[Failure] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)
    exclude: list[str] = field(default_factory=list)
    exclude_before: list[str] | None = None
    images: int = 0
    created: bool = False
    rebuilt: bool = False
    restored: str | None = None
    repaired: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    search: dict[str, Any] | None = None

    @property
    def embedded(self) -> int:
        return self.new + self.changed

    @property
    def images_per_s(self) -> float | None:
        """Files embedded per second of the embedding phase (decode + model + hashing + storing)."""
        return self.embedded / self.embed_seconds if self.embedded and self.embed_seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": str(self.location),
            "root": str(self.root),
            "new": self.new,
            "changed": self.changed,
            "moved": self.moved,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [f.to_dict() for f in self.failed],
            "skipped": self.skipped.to_dict(),
            "exclude": list(self.exclude),
            "exclude_before": None if self.exclude_before is None else list(self.exclude_before),
            "images": self.images,
            "created": self.created,
            "rebuilt": self.rebuilt,
            "restored": self.restored,
            "repaired": self.repaired,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "images_per_s": None if self.images_per_s is None else round(self.images_per_s, 1),
            "search": self.search,
        }


@dataclass(frozen=True)
class Hit:
    """One search result: ``path`` is the file (indexed folder joined with ``relpath``)."""

    rank: int
    score: float
    path: Path
    relpath: str
    width: int | None
    height: int | None
    size: int | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


@dataclass
class SearchResult:
    """The ``k`` best hits for a query, best first, and how they were found.

    ``query_kind`` is ``indexed`` (the stored vector of an indexed file, which is left out of the hits),
    ``file`` (an image file embedded now), ``image`` or ``vector``. ``candidates`` is the number of
    cosine candidates re-ranked by ``metric`` (``None`` for cosine itself).
    """

    query: str
    query_kind: Literal["indexed", "file", "image", "vector"]
    metric: str
    higher_is_better: bool
    hits: list[Hit]
    structure: str
    exact: bool
    candidates: int | None
    index: Path

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values, in their order but the hits last."""
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "hits"}
        return {**plain, "index": str(self.index), "hits": [h.to_dict() for h in self.hits]}
