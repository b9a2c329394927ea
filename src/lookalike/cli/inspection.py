"""``inspect``: what in an image folder will hurt a model trained on it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    weights_option,
)
from lookalike.cli.render import (
    StageProgress,
    console,
    load_embedder,
    print_failures,
    print_json,
    print_line,
    print_notes,
    shown,
    write_json,
)
from lookalike.units import format_bytes

if TYPE_CHECKING:
    from lookalike.inspection import Finding, InspectReport

InspectFolderArg = Annotated[
    Path, typer.Argument(help="Folder of images (sub-folders included).", show_default=False)
]
InspectAgainstOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--against",
        help="Reference folder (repeatable), e.g. the training set: a copy there is a leak of the file in "
        "FOLDER. Its own files get no findings.",
        show_default=False,
    ),
]
InspectJsonOpt = Annotated[
    Path | None,
    quiet_option(
        "--json", help="Write every finding as JSON to this file; '-' prints it instead of the table."
    ),
]
HtmlOpt = Annotated[
    Path | None,
    quiet_option("--html", help="Write a self-contained HTML report (thumbnails embedded) to this file."),
]
InspectWeightsOpt = Annotated[
    str | None,
    weights_option(
        "Feature vectors for the outlier test from these weights (a .pt file or a torchvision name), when "
        "the folder has no up-to-date index to lend its stored vectors."
    ),
]
NoIndexOpt = Annotated[bool, typer.Option("--no-index", help="Do not take feature vectors from an index.")]
ShownOpt = Annotated[int, typer.Option("--show", min=0, help="Findings listed per kind in the table.")]

_LABELS = {
    "reading": "reading images",
    "verifying": "checking pairs",
    "confirming": "confirming leaks and conflicts",
    "embedding": "embedding",
    "outliers": "looking for outliers",
}


@grouped
def inspect_cmd(
    folder: InspectFolderArg,
    against: InspectAgainstOpt = None,
    json_out: InspectJsonOpt = None,
    html: HtmlOpt = None,
    weights: InspectWeightsOpt = None,
    model: ModelOpt = None,
    no_index: NoIndexOpt = False,
    exclude: ExcludeOpt = None,
    show: ShownOpt = 3,
    runtime: Runtime = Runtime(),
) -> None:
    """Inspect an image folder before training on it: leaks between splits, label conflicts, duplicates,
    outliers and bad shots (blurry, dark, light, near blank, grayscale, odd size or shape).

    Copies are found as `lookalike dedup` finds them (same checks, same keeper). A folder laid out as
    train/ val/ test/ with class folders, or as class folders, is read as such: a copy in another split is a
    leak, a copy under another class a label conflict. Outliers need feature vectors: the folder's index
    lends them, or pass --weights. Image statistics are weighed against the folder itself; a kind most of the
    folder has is its nature and is not reported. Nothing is changed.

    Example:

        lookalike inspect cifar10/ --html report.html

        lookalike inspect test/ --against train/ --json findings.json

        lookalike inspect photos/ --weights resnet50 --json - | jq '.counts'
    """
    from lookalike.inspection import inspect_folder

    checked_folder(folder)
    refs = [checked_folder(r, what="--against") for r in against or []]  # before any model loads
    embedder = load_embedder(weights, model=model, **asdict(runtime)) if weights else None
    with StageProgress(_LABELS) as progress:
        report = inspect_folder(
            folder,
            against=refs,
            embedder=embedder,
            use_index=not no_index,
            exclude=exclude or [],
            progress=progress,
        )
    to_stdout = json_out is not None and str(json_out) == "-"
    if json_out is not None and not to_stdout:
        write_json(report.to_dict(), json_out)
    if html is not None:
        from lookalike.inspection.html import write_html

        write_html(report, html)
    if to_stdout:
        print_json(report.to_dict())
        return
    _print_report(report, show)
    if json_out is not None:
        print_line(f"findings written to {shown(json_out)}")
    if html is not None:
        print_line(f"report written to {shown(html)}")


def _print_report(report: InspectReport, show: int) -> None:
    counts = report.counts()
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Images", justify="right", no_wrap=True)
    table.add_column("Worst", overflow="fold")
    for kind, n in counts.items():
        found = report.of_kind(kind)[:show]
        worst = "\n".join(escape(_line(f, report.folder)) for f in found)
        table.add_row(f"[bold]{kind}[/]" if n else f"[dim]{kind}[/]", f"{n:,}", worst)
    console.print(table, highlight=False)
    layout = report.layout
    what = layout.get("kind")
    splits = ", ".join(layout.get("splits") or [])
    memory = f" · peak memory {format_bytes(report.peak_memory)}" if report.peak_memory else ""
    print_line(
        f"{report.images:,} images inspected in {report.seconds:.1f} s · layout: {what}"
        + (f" ({splits})" if splits else "")
        + (f", {layout.get('label_count')} labels" if layout.get("label_count") else "")
        + memory,
        wrap=False,
    )
    if report.failures:
        print_failures(f"unreadable {len(report.failures):,}:", [r for _, r in report.failures])
    print_notes(report.notes)


def _line(f: Finding, root: Path) -> str:
    from lookalike.inspection.findings import relative_name

    if f.other is not None and f.kind != "outlier":
        return f"{relative_name(f.path, root)} ~ {relative_name(f.other, root)}"
    ev = f.evidence
    if f.kind == "outlier":
        return f"{relative_name(f.path, root)} ({ev.get('test')})"
    return f"{relative_name(f.path, root)} ({ev.get('value')})"
