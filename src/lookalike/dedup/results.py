"""What a duplicate search returns: groups of files (a keeper and its duplicates) with the scores of both
checks and how each copy relates to its keeper, the candidate pairs the fine check turned down, and the
files that could not be read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.dedup.orientation import IDENTITY, Orientation
from lookalike.dedup.strictness import Strictness
from lookalike.scanning import Skipped

Box = tuple[float, float, float, float]


def _scores(
    ncc: float, rmse: float, ssim: float, detail: float, colour: float
) -> dict[str, dict[str, float]]:
    return {
        "coarse": {"ncc": round(ncc, 5), "rmse": round(rmse, 5)},
        "fine": {"ssim": round(ssim, 5), "detail": round(detail, 5), "colour": round(colour, 5)},
    }


def _pixels(box: Box | None, width: int, height: int) -> list[int] | None:
    """A box of fractions as whole pixels ``[x0, y0, x1, y1]`` of a ``width``×``height`` image."""
    if box is None:
        return None
    return [round(box[0] * width), round(box[1] * height), round(box[2] * width), round(box[3] * height)]


@dataclass(frozen=True)
class Member:
    """One file of a duplicate group and how it compares with the group's keeper.

    ``ncc`` and ``rmse`` are the coarse check's scores (12×12 thumbnails at their best alignment), ``ssim``,
    ``detail`` and ``colour`` the fine check's (lowest SSIM over tiles of 1/8 and of 1/12 of the side, and
    the largest tile colour difference, at the refined alignment); the best scores for the keeper and for
    exact copies. ``hints`` say what the difference looks like: ``exact`` (same bytes), an orientation
    (``rotated 90° clockwise``, ``mirrored``, …), ``turned 0.8°``, ``cropped``, ``border added``,
    ``border removed``, ``resized``; empty for a near-identical image (e.g. re-encoded or retouched).
    ``orientation`` turns the keeper into this file; ``box`` is the part of this file that shows the
    keeper's picture and ``keeper_box`` the part of the keeper it shows (fractions, upright; ``None`` for
    the keeper). ``reference`` marks a file of a reference folder (never moved).
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
    ssim: float = 1.0
    colour: float = 0.0
    detail: float = 1.0
    orientation: Orientation = IDENTITY
    angle: float = 0.0
    box: Box | None = None
    keeper_box: Box | None = None
    reference: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def within(self, limits: Strictness) -> bool:
        """Whether this copy's recorded scores meet ``limits`` too (the coarse check's best, the fine
        check's at the alignment that passed). The close-up's largest local difference is not recorded:
        it met the limit of the run that grouped the file."""
        return (
            self.ncc >= limits.min_ncc
            and self.rmse <= limits.max_rmse
            and self.ssim >= limits.min_ssim
            and self.detail >= limits.min_detail
            and self.colour <= limits.max_colour
        )

    @property
    def kind(self) -> str:
        """``keeper``, or the hints joined by ``, `` (``near-identical`` when there are none)."""
        if self.keeper:
            return "keeper"
        return ", ".join(self.hints) or "near-identical"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "keeper": self.keeper,
            "reference": self.reference,
            "kind": self.kind,
            "relation": None if self.keeper else self.kind,
            "orientation": self.orientation.to_dict(),
            "angle": round(self.angle, 2) + 0.0,  # (never -0.0)
            "box": _pixels(self.box, self.width, self.height),
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
            "mtime": self.mtime,
            "ncc": round(self.ncc, 5),
            "rmse": round(self.rmse, 5),
            **_scores(self.ncc, self.rmse, self.ssim, self.detail, self.colour),
        }


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that show the same picture; ``members[0]`` is the keeper, the rest are its duplicates.
    ``kept_because`` says why the keeper was chosen over the runner-up."""

    members: tuple[Member, ...]
    kept_because: str = ""

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
        keeper = self.members[0]
        members = [m.to_dict() for m in self.members]
        for m, d in zip(self.members[1:], members[1:], strict=True):
            d["keeper_box"] = _pixels(m.keeper_box, keeper.width, keeper.height)
        return {"keeper": str(self.keeper), "kept_because": self.kept_because, "members": members}


@dataclass(frozen=True)
class PairCheck:
    """The verdict on two images: the coarse scores at their best alignment, the fine scores there after
    refinement (``None`` when the coarse check already failed), and whether they are duplicates.
    ``orientation`` turns ``b`` to look like ``a``; ``flipped`` says whether it mirrors. In the JSON,
    ``relation`` and ``orientation`` both say how ``a`` turns into ``b`` (as a group's members say how the
    keeper turns into them)."""

    a: Path
    b: Path
    ncc: float
    rmse: float
    orientation: Orientation
    cropped: bool
    duplicate: bool
    ssim: float | None = None
    colour: float | None = None
    coarse_passed: bool = True
    detail: float | None = None
    angle: float = 0.0
    local: float | None = None

    @property
    def flipped(self) -> bool:
        return self.orientation.mirror

    @property
    def decided_by(self) -> str:
        """``coarse`` when the coarse check turned the pair down, else ``fine``."""
        return "fine" if self.coarse_passed else "coarse"

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": str(self.a),
            "b": str(self.b),
            "ncc": round(self.ncc, 5),
            "rmse": round(self.rmse, 5),
            "flipped": self.flipped,
            "orientation": self.orientation.inverse.to_dict(),
            "relation": str(self.orientation.inverse),
            "angle": round(self.angle, 2) + 0.0,  # (never -0.0)
            "cropped": self.cropped,
            "duplicate": self.duplicate,
            "decided_by": self.decided_by,
            "coarse": {"ncc": round(self.ncc, 5), "rmse": round(self.rmse, 5), "passed": self.coarse_passed},
            "fine": None
            if self.ssim is None or self.colour is None or self.detail is None
            else {
                "ssim": round(self.ssim, 5),
                "detail": round(self.detail, 5),
                "colour": round(self.colour, 5),
                "local": None if self.local is None else round(self.local, 5),
            },
        }


@dataclass
class DedupResult:
    """What :func:`~lookalike.dedup.find_duplicates` found: groups (largest first), candidate pairs that
    passed the coarse check but not the fine one (``rejected``), unreadable files, the files the folder
    scans passed over (``skipped``: no reader installed, unknown type), the verified pairs a review decision
    kept apart (``ignored``, :mod:`lookalike.dedup.decisions`), what a ``measure`` learnt of each file read
    (``measured``, by path; not in the JSON), and the settings."""

    groups: list[DuplicateGroup]
    images: int
    failures: list[tuple[Path, str]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rejected: list[PairCheck] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)
    ignored: list[tuple[Path, Path]] = field(default_factory=list)
    measured: dict[Path, Any] = field(default_factory=dict)

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
            "rejected": [r.to_dict() for r in self.rejected],
            "ignored": [{"a": str(a), "b": str(b)} for a, b in self.ignored],
            "failures": [{"path": str(p), "reason": r} for p, r in self.failures],
            "skipped": self.skipped.to_dict(),
            "settings": self.settings,
            "stats": self.stats,
            "seconds": round(self.seconds, 3),
        }
