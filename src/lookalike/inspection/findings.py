"""What an inspection finds: one :class:`Finding` per problem of an image, and the :class:`InspectReport`
that holds them all with the counts per kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "Finding", "InspectReport", "relative_name"]

#: Every kind of finding, in the order reports show them.
KINDS = (
    "leak",
    "label_conflict",
    "exact_duplicates",
    "near_duplicates",
    "outlier",
    "blurry",
    "dark",
    "light",
    "low_information",
    "grayscale",
    "odd_size",
    "odd_aspect_ratio",
)


def relative_name(path: Path | None, root: Path) -> str:
    """``path`` as reports show it: relative to the inspected folder with ``/``, else whole."""
    if path is None:
        return ""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Finding:
    """One problem of one image: its ``kind`` (:data:`KINDS`), a ``score`` in [0, 1] (higher is worse,
    for sorting), and the evidence: the other file for copies (``other``), measures and thresholds for the
    rest (``evidence``)."""

    path: Path
    kind: str
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    other: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "score": self.score,
            "other": None if self.other is None else str(self.other),
            **self.evidence,
        }


@dataclass
class InspectReport:
    """The findings of :func:`lookalike.inspection.inspect_folder`, worst first within each kind; the
    images inspected, what each was (split and label, when the folder says), notes (kinds not reported,
    steps left out and why), unreadable files, and the settings and timings."""

    folder: Path
    images: int
    findings: list[Finding]
    layout: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory: int | None = None

    def counts(self) -> dict[str, int]:
        """Images with each kind of finding, every kind listed (0 where none)."""
        out = {k: 0 for k in KINDS}
        for kind in KINDS:
            out[kind] = len({f.path for f in self.findings if f.kind == kind})
        return out

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "images": self.images,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "layout": self.layout,
            "notes": self.notes,
            "failures": [{"path": str(p), "reason": r} for p, r in self.failures],
            "seconds": round(self.seconds, 2),
            "peak_memory": self.peak_memory,
        }
