"""Which file of a duplicate group to keep: what each file says about its quality, and the keep policies.

A group holds one picture several times; the keeper should be the best copy, which is almost always the
original. :func:`read_quality` reads the facts that tell copies apart — the format and whether it is
lossless, the JPEG quality behind the quantization tables, the EXIF capture time, an edge sharpness, and
whether a lossless file was decoded from a JPEG — and :func:`rank` orders a group by a policy
(:data:`KEEP_POLICIES`, or ``in:FOLDER``); :func:`kept_because` says in one phrase why the keeper won.

The default policy, ``quality``, is a cascade of filters: at each step only the members within a tolerance
of the best on that criterion stay, and the next step decides among them.

1. **Most picture pixels** (``width × height × content``; ``content`` is the part of the frame that is the
   picture, below 1 when a uniform border was added): members under 0.95 × the best drop out — crops,
   smaller copies. A member with an added border must reach 0.97 × the best: it was drawn smaller into
   its frame, so it is a resampled copy even when it kept 90% of the pixels (a thin frame, saved as PNG,
   would otherwise win the next step against its JPEG original).
2. **Lossless over lossy** — PNG, BMP, GIF, PPM, lossless WebP, TIFF without JPEG compression; but a
   lossless file whose pixels carry the 8×8 block grid of a decoded JPEG (a JPEG converted or edited and
   saved as PNG) counts as lossy: it can be no better than the JPEG it came from. So does a lossless
   file whose pixels are a fixed function of a JPEG member's, at the same size (brightened, gamma-changed
   or framed from it: :func:`~lookalike.dedup.quality.made_from_jpeg`, checked in the group), ranked at
   that JPEG's quality. A lossless picture too
   small to tell (under about 130×130 px, or 260×260 with little texture: a thumbnail, a CIFAR image) is
   not preferred here either.
3. **Higher quality** — the estimated JPEG quality; lossy files without tables (WebP, JPEG-compressed
   TIFF, lossless files decoded from a JPEG) count as :data:`UNKNOWN_QUALITY` (75: the default of libjpeg,
   Pillow's JPEG writer and cwebp, so an unknown quality ties with default-quality JPEGs and the next
   steps decide). Members 3 or more below the best drop out; lossless files have no rating and stay.
4. **No added border** (``content ≥ 0.99``) over a framed or letterboxed copy — decided only when a
   border-free member has no uniform margin of its own: a page with a wide white margin and one with a
   narrow one may be the original and its cut copy, or a copy with a frame and its original; pixels
   cannot tell, and the next steps decide.
5. **Sharper** — :func:`sharpness` under 0.9 × the best drops out (a scan, a blurred copy; brightness,
   contrast, gamma and colour changes move it by under 8%).
6. **Older** — the EXIF capture time when both have one, a member with one before a member without, then
   the older modification time; differences under a second are ties.
7. **Path**, lexicographic, as the last tie-break.

The full order repeats the cascade on the members not yet placed, so :func:`rank` returns every index.
``largest`` is the rule before this module (most pixels, most bytes, oldest, path); ``oldest`` and
``newest`` sort by capture time (EXIF, else modification time) and break ties by the cascade;
``in:FOLDER`` prefers members inside ``FOLDER``, then the cascade.

Measured on the issue-18 copies (``tests/hard_negatives.build`` with every edit of
``tests/planted_edits``, 330 copies of 216 originals, each ranked against its original): the original is
kept for 327 copies. The three others, and the limits behind them: a lossless copy of a JPEG whose block
grid cannot be seen wins step 2 — nearly black photos (the Hubble deep field), pictures compressed
before on another grid (scikit-image's immunohistochemistry), JPEGs of quality ≥ 95 — unless it is a
same-size pixel-for-pixel function of the JPEG (the group check above); copies resampled (turned by a
small angle, scaled by under 5% a side) still win. Also: a copy made *larger* than the original wins
step 1; WebP quality is not read (it counts as 75); a palette (GIF, 8-bit PNG) copy of a photo counts as
lossless; same-format edits (a PNG brightened and saved as PNG) are told apart by file time alone.

>>> members = [KeeperFacts(p, 800, 600, 1, 0.0, quality=read_quality(p)) for p in paths]  # doctest: +SKIP
>>> order = rank(members, parse_keep("quality"))  # doctest: +SKIP
>>> kept_because(members, order, parse_keep("quality"))  # doctest: +SKIP
'lossless PNG over lossy JPEG'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from lookalike.dedup.quality import UNKNOWN_FILE, UNKNOWN_QUALITY, FileQuality, format_name
from lookalike.errors import LookalikeError

__all__ = [
    "KEEP_POLICIES",
    "KeepPolicy",
    "KeeperFacts",
    "kept_because",
    "parse_keep",
    "rank",
]

#: The named keep policies; ``in:FOLDER`` is the fifth form (see :func:`parse_keep`).
KEEP_POLICIES = ("quality", "largest", "oldest", "newest")

# The cascade's tolerances (see the module docstring).
PIXELS_KEPT = 0.95  # members with fewer picture pixels than this share of the best drop out
FRAMED_PIXELS_KEPT = 0.97  # the same for a member with an added border (its picture was redrawn)
QUALITY_MARGIN = 3  # members this many quality points below the best drop out
NO_BORDER = 0.99  # ``content`` at or above this: no border was added
SHARPNESS_KEPT = 0.9  # members less sharp than this share of the best drop out
SAME_TIME_S = 1.0  # times closer than this are ties
EXACT_PLACES = 100  # places rank decides one by one (a 1,000-member group one by one: 0.7 s)


@dataclass(frozen=True)
class KeeperFacts:
    """One member of a duplicate group as the ranking sees it.

    ``width`` and ``height`` are the stored picture's size, ``bytes`` and ``mtime`` the file's, ``content``
    the share of the area that is the picture itself (1.0 unless a uniform border was added around it,
    e.g. 0.81 for a picture drawn at 90% of each side into a frame), ``quality`` what
    :func:`read_quality` found, ``margin`` whether the file has uniform bands at its edges of its own (a
    page's white margin, an object on white).
    """

    path: Path
    width: int
    height: int
    bytes: int
    mtime: float
    content: float = 1.0
    quality: FileQuality = UNKNOWN_FILE
    margin: bool = False

    @property
    def content_pixels(self) -> float:
        """Pixels of the picture itself, without an added border."""
        return self.width * self.height * self.content


# ----------------------------------------------------------------------------------------------------------
# Policies and the ranking


@dataclass(frozen=True)
class KeepPolicy:
    """How :func:`rank` orders a group: ``name`` is one of :data:`KEEP_POLICIES` or ``in`` (members inside
    ``folder``, resolved, first). ``str()`` gives it back as :func:`parse_keep` reads it."""

    name: Literal["quality", "largest", "oldest", "newest", "in"] = "quality"
    folder: Path | None = None

    def __str__(self) -> str:
        return f"in:{self.folder}" if self.name == "in" else self.name


def parse_keep(spec: str) -> KeepPolicy:
    """The policy named by ``spec``: ``quality`` (the default), ``largest``, ``oldest``, ``newest`` or
    ``in:FOLDER`` (an existing folder). Raises :class:`LookalikeError` naming the bad value.

    >>> parse_keep("in:photos/originals")  # doctest: +SKIP
    KeepPolicy(name='in', folder=PosixPath('/home/me/photos/originals'))
    """
    text = spec.strip()
    for named in (KeepPolicy("quality"), KeepPolicy("largest"), KeepPolicy("oldest"), KeepPolicy("newest")):
        if text.lower() == named.name:
            return named
    if text[:3].lower() == "in:":
        raw = text[3:].strip()
        example = "e.g. `keep='in:photos/originals'`"
        if not raw:
            raise LookalikeError(f"keep {spec!r} names no folder", hint=example)
        folder = Path(raw).expanduser()
        if not folder.exists():
            raise LookalikeError(
                f"keep {spec!r}: there is no folder {folder}", hint=f"check the path, {example}"
            )
        if not folder.is_dir():
            raise LookalikeError(f"keep {spec!r}: {folder} is a file, not a folder", hint=example)
        return KeepPolicy("in", folder.resolve())
    raise LookalikeError(
        f"keep {spec!r} is not one of {', '.join(KEEP_POLICIES)} or in:FOLDER", hint="e.g. `keep='quality'`"
    )


def rank(members: Sequence[KeeperFacts], policy: KeepPolicy | str = "quality") -> list[int]:
    """Every index of ``members``, best first, by ``policy`` (a :class:`KeepPolicy` or its name, see
    :func:`parse_keep`): ``order[0]`` is the keeper. Each place is the best of the members not yet placed;
    past :data:`EXACT_PLACES` places (a group of hundreds of copies) the rest follow the same criteria
    without tolerances, at the cost of one sort. Deterministic: ties end on the path, then the index.

    >>> rank([original_png, jpeg_copy], "quality")  # doctest: +SKIP
    [0, 1]
    """
    steps = _steps(_policy(policy))
    remaining = list(range(len(members)))
    order: list[int] = []
    while remaining and len(order) < EXACT_PLACES:
        survivors, _ = _cascade(members, remaining, steps)
        order.append(survivors[0])
        remaining.remove(survivors[0])
    return order + sorted(remaining, key=lambda i: _tail_key(members[i], steps))


def _tail_key(m: KeeperFacts, steps: Sequence[_Step]) -> tuple[object, ...]:
    """The cascade's criteria in its order, without tolerances: the order of the places past
    :data:`EXACT_PLACES` (each exact place costs a pass over the group)."""
    if steps[0] is _most_pixels_exact:
        return (-m.width * m.height, -m.bytes, m.mtime, str(m.path))
    q = m.quality
    return (
        -m.content_pixels,
        not q.clean_lossless,
        -(q.rated_quality or 0),
        m.content < NO_BORDER,
        -(q.sharpness or 0.0),
        q.capture_time is None,
        q.capture_time or 0.0,
        m.mtime,
        str(m.path),
    )


def kept_because(
    members: Sequence[KeeperFacts], order: Sequence[int], policy: KeepPolicy | str = "quality"
) -> str:
    """Why ``members[order[0]]`` beat the runner-up ``members[order[1]]``, in one short phrase (for JSON
    and the terminal): ``lossless PNG over lossy JPEG``, ``more pixels (1240×1754 against 310×438)``,
    ``higher JPEG quality (≈90 against ≈30)``, ``no added border``, ``sharper (1.36 against 1.13)``,
    ``older capture time (EXIF 2019-05-01 10:12 against 2021-03-04 18:00)``, ``in /photos/originals``…

    >>> kept_because(members, rank(members), "quality")  # doctest: +SKIP
    'lossless PNG over lossy JPEG'
    """
    if len(order) < 2:
        return "the only file"
    steps = _steps(_policy(policy))
    keeper, runner_up = order[0], order[1]
    survivors, dropped_at = _cascade(members, sorted(set(order)), steps)
    if survivors[0] != keeper or runner_up not in dropped_at:  # an order of the caller's own
        survivors, dropped_at = _cascade(members, [keeper, runner_up], steps)
    step = steps[dropped_at[runner_up]] if runner_up in dropped_at else steps[-1]
    return step.why(members[keeper], members[runner_up])


def _policy(policy: KeepPolicy | str) -> KeepPolicy:
    return policy if isinstance(policy, KeepPolicy) else parse_keep(policy)


Pick = Callable[[Sequence[KeeperFacts], list[int]], list[int]]


@dataclass(frozen=True)
class _Step:
    """One filter of a cascade: ``pick`` the survivors among some members, and say ``why`` a beat b."""

    pick: Pick
    why: Callable[[KeeperFacts, KeeperFacts], str]


def _cascade(
    members: Sequence[KeeperFacts], among: list[int], steps: Sequence[_Step]
) -> tuple[list[int], dict[int, int]]:
    """The survivors of every step (one member after the path step) and the step each other member
    dropped out at."""
    dropped_at: dict[int, int] = {}
    alive = list(among)
    for s, step in enumerate(steps):
        if len(alive) == 1:
            break
        kept = step.pick(members, alive)
        if len(kept) < len(alive):
            survived = set(kept)
            dropped_at.update((i, s) for i in alive if i not in survived)
        alive = kept
    return alive, dropped_at


def _steps(policy: KeepPolicy) -> list[_Step]:
    if policy.name == "largest":
        return [_most_pixels_exact, _most_bytes, _older_file, _first_path]
    first: list[_Step] = []
    if policy.name in ("oldest", "newest"):
        first = [_by_time(newest=policy.name == "newest")]
    elif policy.name == "in" and policy.folder is not None:
        first = [_inside(policy.folder)]
    return [*first, *_QUALITY_CASCADE]


def _keep_near_best(
    members: Sequence[KeeperFacts],
    alive: list[int],
    value: Callable[[KeeperFacts], float | None],
    near: Callable[[float, float, KeeperFacts], bool],
) -> list[int]:
    """The members whose ``value`` is ``near`` the best (largest) one; unknown values (``None``) stay."""
    known = [v for i in alive if (v := value(members[i])) is not None]
    if not known:
        return alive
    best = max(known)
    return [i for i in alive if (v := value(members[i])) is None or near(v, best, members[i])]


def _preferred(
    members: Sequence[KeeperFacts], alive: list[int], test: Callable[[KeeperFacts], bool]
) -> list[int]:
    """The members that pass ``test``, or all when none does."""
    return [i for i in alive if test(members[i])] or alive


def _size(m: KeeperFacts) -> str:
    framed = f" with {m.content:.0%} picture" if m.content < NO_BORDER else ""
    return f"{m.width}×{m.height}{framed}"


def _utc(t: float, *, seconds: bool = False) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def _when(t: float, other: float) -> tuple[str, str]:
    """Two times as UTC text, to the minute unless that makes them look equal."""
    a, b = _utc(t), _utc(other)
    return (a, b) if a != b else (_utc(t, seconds=True), _utc(other, seconds=True))


# -- the quality cascade


def _pick_pixels(members: Sequence[KeeperFacts], alive: list[int]) -> list[int]:
    def near(v: float, best: float, m: KeeperFacts) -> bool:
        return v >= best * (FRAMED_PIXELS_KEPT if m.content < NO_BORDER else PIXELS_KEPT)

    return _keep_near_best(members, alive, lambda m: m.content_pixels, near)


def _why_pixels(a: KeeperFacts, b: KeeperFacts) -> str:
    if a.content >= NO_BORDER and b.content >= NO_BORDER:
        return f"more pixels ({_size(a)} against {_size(b)})"
    return f"more picture pixels ({_size(a)} against {_size(b)})"


def _why_lossless(a: KeeperFacts, b: KeeperFacts) -> str:
    other = format_name(b.quality.format)
    if b.quality.lossless:
        lost = f"a {other} made from a JPEG" if b.quality.from_jpeg else f"a small {other}, maybe from a JPEG"
    else:
        lost = f"lossy {other}"
    return f"lossless {format_name(a.quality.format)} over {lost}"


def _pick_quality(members: Sequence[KeeperFacts], alive: list[int]) -> list[int]:
    def rated(m: KeeperFacts) -> float | None:
        q = m.quality.rated_quality
        return None if q is None else float(q)

    return _keep_near_best(members, alive, rated, lambda v, best, _: v > best - QUALITY_MARGIN)


def _why_quality(a: KeeperFacts, b: KeeperFacts) -> str:
    qa, qb = a.quality, b.quality
    if qa.quality is not None and qb.quality is not None and not qa.from_jpeg and not qb.from_jpeg:
        return f"higher JPEG quality (≈{qa.quality} against ≈{qb.quality})"

    def rated(q: FileQuality) -> str:
        known = q.rated_quality is None or (q.quality is not None and not q.from_jpeg)
        return q.describe() if known else f"{q.describe()}, counted as ≈{UNKNOWN_QUALITY}"

    return f"higher quality ({rated(qa)} against {rated(qb)})"


def _pick_sharpness(members: Sequence[KeeperFacts], alive: list[int]) -> list[int]:
    return _keep_near_best(
        members, alive, lambda m: m.quality.sharpness, lambda v, best, _: v >= SHARPNESS_KEPT * best
    )


def _why_sharpness(a: KeeperFacts, b: KeeperFacts) -> str:
    sa, sb = a.quality.sharpness, b.quality.sharpness
    return "sharper" if sa is None or sb is None else f"sharper ({sa:.2f} against {sb:.2f})"


def _pick_older(members: Sequence[KeeperFacts], alive: list[int]) -> list[int]:
    def same_time(v: float, best: float, _: KeeperFacts) -> bool:
        return v > best - SAME_TIME_S

    def capture(m: KeeperFacts) -> float | None:
        return None if m.quality.capture_time is None else -m.quality.capture_time

    alive = _preferred(members, alive, lambda m: m.quality.capture_time is not None)
    alive = _keep_near_best(members, alive, capture, same_time)
    return _keep_near_best(members, alive, lambda m: -m.mtime, same_time)


def _why_older(a: KeeperFacts, b: KeeperFacts) -> str:
    ta, tb = a.quality.capture_time, b.quality.capture_time
    if ta is not None and tb is None:
        return f"has a capture time (EXIF {_utc(ta)})"
    if ta is not None and tb is not None and tb - ta >= SAME_TIME_S:
        return "older capture time (EXIF {} against {})".format(*_when(ta, tb))
    return "older file (modified {} against {} UTC)".format(*_when(a.mtime, b.mtime))


def _pick_path(members: Sequence[KeeperFacts], alive: list[int]) -> list[int]:
    return [min(alive, key=lambda i: (str(members[i].path), i))]


_pixels = _Step(_pick_pixels, _why_pixels)
_lossless = _Step(lambda ms, alive: _preferred(ms, alive, lambda m: m.quality.clean_lossless), _why_lossless)
_quality = _Step(_pick_quality, _why_quality)


def _pick_no_border(members: Sequence[KeeperFacts], alive: list[int]) -> list[int]:
    """Members without an added border, when one of them has no uniform margin of its own: where the
    border-free member has a margin too (a page, an object on white), a wider margin and a narrower one
    are the same picture framed two ways — a frame added to the original, or the original's margin cut —
    and pixels cannot say which came first; the next steps decide."""
    clean = [i for i in alive if members[i].content >= NO_BORDER]
    if not clean or len(clean) == len(alive) or all(members[i].margin for i in clean):
        return alive
    return clean


_no_border = _Step(_pick_no_border, lambda a, b: "no added border")
_sharper = _Step(_pick_sharpness, _why_sharpness)
_older = _Step(_pick_older, _why_older)
_first_path = _Step(_pick_path, lambda a, b: "first by path")
_QUALITY_CASCADE = (_pixels, _lossless, _quality, _no_border, _sharper, _older, _first_path)


# -- the other policies


_most_pixels_exact = _Step(
    lambda ms, alive: _keep_near_best(
        ms, alive, lambda m: float(m.width * m.height), lambda v, best, _: v >= best
    ),
    lambda a, b: f"more pixels ({a.width}×{a.height} against {b.width}×{b.height})",
)
_most_bytes = _Step(
    lambda ms, alive: _keep_near_best(ms, alive, lambda m: float(m.bytes), lambda v, best, _: v >= best),
    lambda a, b: f"same pixels, more bytes ({a.bytes:,} against {b.bytes:,})",
)
_older_file = _Step(
    lambda ms, alive: _keep_near_best(
        ms, alive, lambda m: -m.mtime, lambda v, best, _: v > best - SAME_TIME_S
    ),
    lambda a, b: "older file (modified {} against {} UTC)".format(*_when(a.mtime, b.mtime)),
)


def _time_of(m: KeeperFacts) -> float:
    """Capture time (EXIF), else the modification time."""
    return m.quality.capture_time if m.quality.capture_time is not None else m.mtime


def _time_text(m: KeeperFacts, other: KeeperFacts) -> tuple[str, str]:
    a, b = _when(_time_of(m), _time_of(other))
    return (
        f"EXIF {a}" if m.quality.capture_time is not None else f"modified {a} UTC",
        f"EXIF {b}" if other.quality.capture_time is not None else f"modified {b} UTC",
    )


def _by_time(*, newest: bool) -> _Step:
    sign = 1.0 if newest else -1.0
    word = "newer" if newest else "older"
    return _Step(
        lambda ms, alive: _keep_near_best(
            ms, alive, lambda m: sign * _time_of(m), lambda v, best, _: v > best - SAME_TIME_S
        ),
        lambda a, b: "{} ({} against {})".format(word, *_time_text(a, b)),
    )


def _inside(folder: Path) -> _Step:
    seen: dict[Path, bool] = {}  # each path resolved once per ranking

    def inside(m: KeeperFacts) -> bool:
        if m.path not in seen:
            try:
                seen[m.path] = m.path.resolve().is_relative_to(folder)
            except (OSError, RuntimeError):  # a link loop
                seen[m.path] = False
        return seen[m.path]

    return _Step(lambda ms, alive: _preferred(ms, alive, inside), lambda a, b: f"in {folder}")
