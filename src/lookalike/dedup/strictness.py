"""How alike two files must be to count as duplicates: the thresholds of both checks, in one object.

>>> from lookalike.dedup import Strictness
>>> Strictness.named("normal").min_ssim
0.8
>>> Strictness.named("normal").replace(min_ssim=0.9).min_ssim
0.9
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

from lookalike.errors import LookalikeError

StrictnessName = Literal["strict", "normal", "loose"]


@dataclass(frozen=True)
class Strictness:
    """The thresholds of both checks. Coarse: NCC and RMSE (after the bounded tone map) of 12×12
    thumbnails at their best alignment (lets every re-encode, resize, turn, crop and tone edit through);
    fine: lowest tile SSIM (tiles of 1/8 of the side, and ``detail`` on tiles of 1/12) and largest tile
    colour difference at the refined alignment (decides where content differs); close-up: the largest
    local difference at the files' own resolution (``max_local``, :mod:`lookalike.dedup.closeup`)."""

    min_ncc: float
    max_rmse: float
    min_ssim: float
    max_colour: float
    min_detail: float
    max_local: float = 0.16

    def __post_init__(self) -> None:
        for name in ("min_ncc", "min_ssim", "min_detail"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise LookalikeError(f"{name} {value} must be in (0, 1], e.g. {getattr(_NORMAL, name)}")
        for name in ("max_rmse", "max_colour", "max_local"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise LookalikeError(
                    f"{name} {value} must be in [0, 1] (pixels on a 0–1 scale), e.g. {getattr(_NORMAL, name)}"
                )

    @classmethod
    def named(cls, name: StrictnessName | str) -> Strictness:
        """The preset called ``name``: ``strict``, ``normal`` or ``loose`` (:data:`STRICTNESS`)."""
        try:
            return STRICTNESS[name]
        except KeyError:
            raise LookalikeError(
                f"strictness {name!r} is not one of {', '.join(STRICTNESS)}; e.g. 'normal'"
            ) from None

    def replace(self, **thresholds: float | None) -> Strictness:
        """These thresholds with some changed (``None`` keeps a value)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(thresholds) - known)
        if unknown:
            raise TypeError(f"unknown threshold {unknown[0]!r}; thresholds are {', '.join(sorted(known))}")
        return replace(self, **{k: v for k, v in thresholds.items() if v is not None})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


_NORMAL = Strictness(min_ncc=0.85, max_rmse=0.06, min_ssim=0.80, max_colour=0.06, min_detail=0.5)
#: Presets measured on ``benchmarks/dedup.py`` (RESULTS.md "Dedup: content verification").
STRICTNESS: dict[str, Strictness] = {
    "strict": Strictness(min_ncc=0.95, max_rmse=0.06, min_ssim=0.90, max_colour=0.04, min_detail=0.6),
    # coarse 0.85: a small shape on white, cropped, correlates only ~0.88 at 12×12; the fine check decides
    "normal": _NORMAL,
    "loose": Strictness(min_ncc=0.80, max_rmse=0.10, min_ssim=0.65, max_colour=0.10, min_detail=0.4),
}
MIN_NCC = _NORMAL.min_ncc
MAX_RMSE = _NORMAL.max_rmse
MIN_SSIM = _NORMAL.min_ssim
MAX_COLOUR = _NORMAL.max_colour


def resolve(strictness: Strictness | StrictnessName | str, legacy: dict[str, float | None]) -> Strictness:
    """``strictness`` (an object or a preset's name) with the thresholds passed the old way — as keywords
    of ``find_duplicates`` / ``verify_pair`` — applied on top, with a :class:`DeprecationWarning`."""
    base = strictness if isinstance(strictness, Strictness) else Strictness.named(strictness)
    given = {k: v for k, v in legacy.items() if v is not None}
    if given:
        warnings.warn(
            f"threshold keywords ({', '.join(sorted(given))}) are deprecated; pass "
            f"strictness=Strictness.named(...).replace({', '.join(f'{k}=...' for k in sorted(given))})",
            DeprecationWarning,
            stacklevel=3,
        )
    return base.replace(**given)
