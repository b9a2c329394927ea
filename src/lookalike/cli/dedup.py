"""``dedup``: near-duplicate groups of a folder, moved aside on request and moved back with ``--undo``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from lookalike.cli.options import (
    ExcludeOpt,
    ModelOpt,
    Runtime,
    checked_folder,
    grouped,
    quiet_option,
    strict_option,
    weights_option,
)
from lookalike.cli.render import (
    StageProgress,
    console,
    err,
    load_embedder,
    print_error,
    print_failures,
    print_json,
    print_line,
    print_notes,
    shown,
    write_json,
)
from lookalike.dedup.strictness import STRICTNESS, Strictness  # light: thresholds only, no torch
from lookalike.errors import LookalikeError
from lookalike.units import format_bytes

if TYPE_CHECKING:
    from lookalike.dedup import DedupResult
    from lookalike.scanning import Skipped

DedupFolderArg = Annotated[
    Path | None, typer.Argument(help="Folder of images to check, sub-folders included.", show_default=False)
]
FeatureWeightsOpt = Annotated[
    str | None,
    weights_option(
        "Also take candidate pairs from deep features of these weights (a .pt file or a torchvision name). "
        "Pairs are verified on pixels either way; without it candidates come from pixels alone, which is "
        "faster and found every planted duplicate in benchmarks/dedup.py. An up-to-date index of FOLDER "
        "made with these weights lends its stored vectors."
    ),
]
# --json names a file here ('-': stdout), where the other commands' --json is a flag
JsonOutOpt = Annotated[
    Path | None,
    quiet_option(
        "--json", help="Write the groups as JSON to this file; '-' prints them instead of the table."
    ),
]
MoveToOpt = Annotated[
    Path | None,
    quiet_option(
        "--move-to",
        help="Move every non-keeper into this folder (sub-folders kept, taken names get -1, -2, …; "
        "nothing is deleted or overwritten) and write a log that --undo reverses.",
    ),
]
LogOpt = Annotated[
    Path | None,
    quiet_option(help="Where --move-to writes its log; default DIR/lookalike-dedup-<time>.jsonl."),
]
UndoOpt = Annotated[
    Path | None,
    quiet_option("--undo", help="Put every file that the move log LOG moved back where it was (no scan)."),
]
StrictnessOpt = Annotated[
    str,
    typer.Option(
        "--strictness",
        help="How alike two files must be: strict, normal or loose. 'normal' finds re-encodes, resizes, "
        "turns, mirror images, crops keeping ≥ 75% of the area, added borders, tone edits and scans, and "
        "never groups pages, receipts or screens whose text or digits differ; 'strict' misses some crops "
        "and scans; 'loose' also takes heavier edits but may group distinct photos on a plain sky. "
        "Measured in benchmarks/RESULTS.md.",
    ),
]
KeepOpt = Annotated[
    str,
    typer.Option(
        "--keep",
        help="Which file of a group stays: 'quality' (the best copy: most picture pixels, lossless over "
        "lossy, higher JPEG quality, no added border, sharper, then the oldest capture), 'largest' (most "
        "pixels, then bytes), 'oldest' or 'newest' (capture time, else file time), or 'in:FOLDER' (a file "
        "inside FOLDER). The JSON says why in kept_because.",
    ),
]
AgainstOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--against",
        help="Reference folder (repeatable): report only files of FOLDER that duplicate a file here, each "
        "grouped under its reference copy; reference files are never moved. E.g. test/ --against train/.",
        show_default=False,
    ),
]
MinNccOpt = Annotated[
    float | None,
    quiet_option(
        help="Coarse check: least normalized cross-correlation of two 12×12 thumbnails "
        f"(default from --strictness; normal {STRICTNESS['normal'].min_ncc})."
    ),
]
MaxRmseOpt = Annotated[
    float | None,
    quiet_option(
        help="Coarse check: largest RMS pixel difference (0–1 scale) of the thumbnails "
        f"(normal {STRICTNESS['normal'].max_rmse})."
    ),
]
MinSsimOpt = Annotated[
    float | None,
    quiet_option(
        help="Fine check: least SSIM of every tile of the aligned images at up to 256 px "
        f"(normal {STRICTNESS['normal'].min_ssim})."
    ),
]
FlipsOpt = Annotated[bool, typer.Option("--flips/--no-flips", help="Count mirror images as duplicates.")]
RotationsOpt = Annotated[
    bool,
    typer.Option("--rotations/--no-rotations", help="Count quarter and half turns as duplicates."),
]
CropsOpt = Annotated[
    bool,
    typer.Option(
        "--crops/--no-crops",
        help="Count crops keeping ≥ 75% of the area, and copies with an added border, as duplicates.",
    ),
]
StrictOpt = Annotated[bool, strict_option("any file could not be read")]
NotDuplicatesOpt = Annotated[
    tuple[Path, Path] | None,
    typer.Option(
        "--not-duplicates",
        help="Remember that files A and B are not duplicates: they are never grouped again, "
        "by this command or the page of `lookalike serve`, even once moved or renamed (kept by content "
        "hash in the index folder). E.g. --not-duplicates a.jpg b.jpg.",
        metavar="A B",
        show_default=False,
    ),
]
ForgetOpt = Annotated[
    tuple[Path, Path] | None,
    typer.Option(
        "--forget",
        help="Take back a --not-duplicates decision on files A and B.",
        metavar="A B",
        show_default=False,
    ),
]
DecisionsOpt = Annotated[
    bool,
    typer.Option(
        "--decisions/--no-decisions",
        help="Honour the review decisions kept for FOLDER (pairs marked not duplicates, keepers chosen).",
    ),
]


@dataclass(frozen=True)
class Checks:
    """How alike two files must be to group: the thresholds and what counts, as find_duplicates takes them."""

    strictness: StrictnessOpt = "normal"
    min_ncc: MinNccOpt = None
    max_rmse: MaxRmseOpt = None
    min_ssim: MinSsimOpt = None
    flips: FlipsOpt = True
    rotations: RotationsOpt = True
    crops: CropsOpt = True

    def options(self) -> dict[str, Any]:
        """The keywords of find_duplicates: the thresholds as one Strictness, and what counts."""
        limits = Strictness.named(self.strictness).replace(
            min_ncc=self.min_ncc, max_rmse=self.max_rmse, min_ssim=self.min_ssim
        )
        name = self.strictness if limits == Strictness.named(self.strictness) else limits
        return {"strictness": name, "flips": self.flips, "rotations": self.rotations, "crops": self.crops}


_LABELS = {"reading": "reading images", "embedding": "embedding", "verifying": "checking pairs"}


@grouped
def dedup(
    folder: DedupFolderArg = None,
    against: AgainstOpt = None,
    exclude: ExcludeOpt = None,
    keep: KeepOpt = "quality",
    weights: FeatureWeightsOpt = None,
    model: ModelOpt = None,
    json_out: JsonOutOpt = None,
    move_to: MoveToOpt = None,
    log: LogOpt = None,
    undo: UndoOpt = None,
    not_duplicates: NotDuplicatesOpt = None,
    forget: ForgetOpt = None,
    decisions: DecisionsOpt = True,
    checks: Checks = Checks(),
    strict: StrictOpt = False,
    runtime: Runtime = Runtime(),
) -> None:
    """Find near-duplicate images in FOLDER: exact copies, re-encodes, resizes, turned or mirrored copies,
    crops, added borders, tone edits and scans.

    Candidates come from tiny thumbnails in every orientation; each is confirmed where content differs
    (SSIM of every tile at up to 256 px, then at the files' own resolution), so pages of other words,
    receipts whose digits differ, app screens with other text and moved objects never group. Each group
    keeps its best copy (--keep) and says why; every other member is a checked duplicate of that keeper.
    Nothing changes unless you pass --move-to, which moves the duplicates (never deletes) and writes a log
    that --undo LOG reverses. Unreadable files are skipped and listed. Pairs marked not duplicates (here
    with --not-duplicates, or on the page of `lookalike serve`) stay apart, and keepers chosen on the page
    keep their groups.

    Example:

        lookalike dedup photos/

        lookalike dedup test/ --against train/

        lookalike dedup photos/ --exclude '*.tmp' --exclude 'raw/**'

        lookalike dedup scans/ --keep oldest --strictness strict

        lookalike dedup photos/ --not-duplicates photos/twin-a.jpg photos/twin-b.jpg

        lookalike dedup photos/ --json groups.json --move-to photos-duplicates/

        lookalike dedup --undo photos-duplicates/lookalike-dedup-20250101-120000.jsonl
    """
    from lookalike.dedup import find_duplicates, move_duplicates
    from lookalike.scanning import check_exclude

    to_stdout = json_out is not None and str(json_out) == "-"
    if undo is not None:
        if move_to is not None:
            raise LookalikeError("--undo and --move-to cannot be combined; run them one at a time")
        _undo(undo, to_stdout=to_stdout)
        return
    if folder is None:
        raise LookalikeError("pass a FOLDER to check (or --undo LOG to reverse a --move-to)")
    folder = checked_folder(folder)
    refs = [checked_folder(r, what="--against") for r in against or []]
    check_exclude(exclude or ())  # before any model loads
    ignore, prefer = _decisions(
        folder,
        [not_duplicates] if not_duplicates else [],
        [forget] if forget else [],
        use=decisions,
    )
    targets, vectors, embedder, skipped = _candidates(
        folder, weights, model, runtime, index=not refs, exclude=exclude or ()
    )
    with StageProgress(_LABELS) as progress:
        result = find_duplicates(
            targets,
            against=refs or None,
            exclude=exclude or (),
            keep=keep,
            vectors=vectors,
            embedder=embedder,
            progress=progress,
            ignore=ignore,
            prefer=prefer,
            **checks.options(),
        )
    if skipped is not None:  # the folder was scanned before, for the index's vectors
        result.skipped.add(skipped)
    if json_out is not None and not to_stdout:
        write_json(result.to_dict(), json_out)
    log_path = move_duplicates(result, move_to, log=log) if move_to is not None and result.groups else None
    if to_stdout:
        print_json({**result.to_dict(), "move_log": None if log_path is None else str(log_path)})
    else:
        _print_result(result, json_out=json_out, move_to=move_to, log_path=log_path)
    if strict and result.failures:
        print_error(f"{len(result.failures):,} file(s) could not be read (--strict)")
        raise typer.Exit(1)


def _undo(log: Path, *, to_stdout: bool) -> None:
    """``--undo LOG``: move the files back and say how many."""
    from lookalike.dedup import undo_moves

    report = undo_moves(log)
    if to_stdout:
        print_json(report.to_dict())
        return
    print_line(
        f"restored {len(report.restored):,} file(s) from {shown(log)}"
        + (f"; {len(report.already_in_place):,} already in place" if report.already_in_place else "")
    )


def _decisions(
    folder: Path, mark: list[tuple[Path, Path]], forget: list[tuple[Path, Path]], *, use: bool
) -> tuple[set[tuple[str, str]], set[str]]:
    """Store the decisions given (``--not-duplicates``, ``--forget``) and return those in force for FOLDER:
    ``(pairs kept apart, keepers chosen)`` as content hashes (none with ``--no-decisions``)."""
    from lookalike.dedup.decisions import Decisions, decisions_location

    store = Decisions(decisions_location(folder))
    for a, b in mark:
        store.ignore(_file_hash(a), _file_hash(b), a_path=str(a), b_path=str(b))
        _note(f"remembered: {shown(a)} and {shown(b)} are not duplicates (undo: --forget A B)")
    for a, b in forget:
        if store.forget(_file_hash(a), _file_hash(b)):
            _note(f"forgotten: {shown(a)} and {shown(b)} may group again")
        else:
            _note(f"{shown(a)} and {shown(b)} were not marked as not duplicates; nothing to forget")
    if not use:
        return set(), set()
    return store.ignored_pairs(), set(store.keepers())


def _note(text: str) -> None:
    """A line on stderr (stdout may carry the JSON)."""
    err.print(escape(text), highlight=False)


def _file_hash(path: Path) -> str:
    from lookalike.hashing import file_sha256

    try:
        return file_sha256(path)
    except FileNotFoundError:
        raise LookalikeError(f"{path}: no such file; pass two image files of the folder") from None
    except OSError as exc:
        raise LookalikeError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _candidates(
    folder: Path,
    weights: str | None,
    model: str | None,
    runtime: Runtime,
    *,
    index: bool = True,
    exclude: Sequence[str] = (),
) -> tuple[Path | list[Path], Any, Any, Skipped | None]:
    """What find_duplicates takes deep-feature candidates from: ``(paths, vectors, embedder, skipped)``
    (``skipped``: what the folder's scan passed over, when the paths come from a scan here) — nothing
    without ``--weights``, else (with ``index``) an up-to-date index's stored vectors, else the embedder
    itself (with reference folders, which no index of FOLDER holds). ``exclude`` leaves files out of the
    folder's scan for the index's vectors."""
    if weights is None:
        return folder, None, None, None
    from lookalike.collection.reuse import stored_vectors

    embedder = load_embedder(weights, model=model, **asdict(runtime))
    stored = stored_vectors(folder, embedder, exclude=exclude) if index else None
    if stored is None:
        return folder, None, embedder, None
    err.print(f"feature vectors from {shown(stored.location)}", highlight=False)
    return stored.paths, stored.vectors, None, stored.skipped


def _print_result(
    result: DedupResult, *, json_out: Path | None, move_to: Path | None, log_path: Path | None
) -> None:
    """The groups table and what was found, written and moved."""
    if result.groups:
        _print_groups(result)
    freed = sum(m.bytes for g in result.groups for m in g.duplicates)
    print_line(
        f"{len(result.groups):,} group(s) · {result.duplicates:,} duplicate(s), {format_bytes(freed)} · "
        f"{result.images:,} image{'s' if result.images != 1 else ''} checked in {result.seconds:.1f} s"
        + (
            f" · {len(result.rejected):,} look-alike pair(s) kept apart by the fine check"
            if result.rejected
            else ""
        )
        + (
            f" · {len(result.ignored):,} pair(s) kept apart as marked not duplicates"
            if result.ignored
            else ""
        )
        + (f" · {len(result.failures):,} unreadable" if result.failures else "")
        + (f" · {result.skipped.total:,} skipped" if result.skipped.total else ""),
        wrap=False,
    )
    if json_out is not None:
        print_line(f"groups written to {shown(json_out)}")
    if log_path is not None:
        print_line(
            f"moved {result.duplicates:,} file(s) to {shown(move_to or Path())}; undo with: "
            f"lookalike dedup --undo {shown(log_path)}",
            wrap=False,
        )
    elif result.groups:
        print_line("[dim]nothing was changed; --move-to DIR moves the duplicates (undo with --undo LOG)[/]")
    if result.failures:
        print_failures(f"unreadable {len(result.failures):,}:", [reason for _, reason in result.failures])
    print_notes(result.skipped.lines())


def _scores(m: Any) -> tuple[str, str, str]:
    """A member's NCC, RMSE and SSIM cells (empty for the keeper, the one the others were checked against)."""
    return ("", "", "") if m.keeper else (f"{m.ncc:.3f}", f"{m.rmse:.3f}", f"{m.ssim:.3f}")


#: Terminals at least this wide get the fine check's scores (NCC, RMSE, SSIM) as columns of the table.
WIDE = 110
#: Groups shown in the table; the rest are counted (``--json`` lists them all).
TABLE_GROUPS = 200


def _print_groups(result: DedupResult) -> None:
    """The duplicate groups as one table, a section per group, the keeper first and marked: the first
    :data:`TABLE_GROUPS` (the largest), and how many more there are."""
    table = Table(title_justify="left", show_edge=False, pad_edge=False)
    numbers = ("Group", "Pixels", "Size", "NCC", "RMSE", "SSIM")
    shown_groups = result.groups[:TABLE_GROUPS]
    longest = max((len(shown(m.path)) for g in shown_groups for m in g.members), default=4)
    scores = console.width >= WIDE  # narrower: the names and relations first, the scores in --json
    columns = ("Group", "", "File", "Pixels", "Size", "Relation to keeper")
    for col in columns + (("NCC", "RMSE", "SSIM") if scores else ()):
        if col == "File":  # the names are what a user reads before --move-to: whole, wrapped if need be
            table.add_column(col, overflow="fold", min_width=min(longest, max(20, console.width // 4)))
        elif col == "Relation to keeper":
            table.add_column(col, overflow="fold")
        else:
            table.add_column(col, justify="right" if col in numbers else "left", no_wrap=True)
    for n, group in enumerate(shown_groups, 1):
        if n > 1:
            table.add_section()
        for m in group.members:
            mark = "[bold green]keep[/]" if not m.reference else "[bold blue]ref[/]"
            name = escape(shown(m.path))
            table.add_row(
                str(n) if m.keeper else "",
                mark if m.keeper else "[dim]dup[/]",
                f"[bold]{name}[/]" if m.keeper else name,
                f"{m.width}×{m.height}",
                format_bytes(m.bytes),
                f"[dim]{group.kept_because}[/]" if m.keeper else m.kind,
                *(_scores(m) if scores else ()),
            )
    console.print(table, highlight=False)
    if len(result.groups) > TABLE_GROUPS:
        more = result.groups[TABLE_GROUPS:]
        print_line(
            f"… and {len(more):,} more group(s) of {sum(len(g.duplicates) for g in more):,} duplicate(s), "
            "not shown: --json FILE lists every group",
            wrap=False,
        )
