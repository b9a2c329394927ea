"""Collections: ``index``, ``search`` and ``info``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from lookalike.cli.options import (
    WEIGHTS_HELP,
    DeviceOpt,
    ExcludeOpt,
    Hardware,
    IndexOpt,
    JsonOpt,
    ModelOpt,
    SizeOpt,
    WorkersOpt,
    grouped,
    quiet_option,
    strict_option,
    weights_option,
)
from lookalike.cli.render import (
    BACKENDS,
    StageProgress,
    console,
    err,
    load_embedder,
    model_status,
    print_error,
    print_failures,
    print_json,
    print_line,
    print_notes,
    print_rows,
    shown,
    when,
)
from lookalike.errors import LookalikeError
from lookalike.units import format_bytes

if TYPE_CHECKING:
    from lookalike.dedup import CopyMark
    from lookalike.features import Embedder

# The phases index_folder reports, as the bars name them.
_INDEX_LABELS = {
    "scan": "listing files",
    "hash": "checking changed files",
    "embed": "embedding",
    "search": "search index",
}

FolderArg = Annotated[
    Path, typer.Argument(help="Folder of images to index, sub-folders included.", show_default=False)
]
IndexWeightsOpt = Annotated[
    str | None,
    weights_option(WEIGHTS_HELP + "; default: those the index was built with, else DEFAULT.", envvar=True),
]
RebuildOpt = Annotated[
    bool, typer.Option("--rebuild", help="Replace the index (e.g. one made with other weights).")
]
RepairOpt = Annotated[
    bool,
    typer.Option(
        "--repair",
        help="Check the catalogue and every stored vector; embed again only the files whose vectors "
        "are lost or unreadable, drop rows of files that are gone, rebuild the search structure.",
    ),
]
StrictOpt = Annotated[bool, strict_option("any file or folder was skipped")]
RayOpt = Annotated[
    str | None,
    quiet_option(
        "--ray",
        metavar="ADDRESS",
        help="Embed on a Ray cluster: 'auto' starts one on this machine (an actor per core or GPU), "
        "'ray://HOST:10001' or HOST:PORT joins one (workers must read FOLDER and the weights at the same "
        "paths). Needs pip install 'lookalike\\[ray]'.",
    ),
]
IndexBatchOpt = Annotated[int | None, quiet_option(help="Images per batch; default 256 on CUDA, 64 on CPU.")]


@dataclass(frozen=True)
class IndexNetwork:
    """:class:`~lookalike.cli.options.Network`, but by default the weights the index was built with."""

    weights: IndexWeightsOpt = None
    model: ModelOpt = None
    size: SizeOpt = None


@dataclass(frozen=True)
class IndexHardware(Hardware):
    """:class:`~lookalike.cli.options.Hardware`, how many images it takes at once, who decodes them, and
    the Ray cluster that runs it all, if any."""

    batch_size: IndexBatchOpt = None
    workers: WorkersOpt = None
    ray: RayOpt = None


@grouped
def index_cmd(
    folder: FolderArg,
    network: IndexNetwork = IndexNetwork(),
    index: IndexOpt = None,
    exclude: ExcludeOpt = None,
    rebuild: RebuildOpt = False,
    repair: RepairOpt = False,
    strict: StrictOpt = False,
    hardware: IndexHardware = IndexHardware(),
    as_json: JsonOpt = False,
) -> None:
    """Embed every image of FOLDER into its index once; later runs touch only new, changed, deleted files.

    The index lives in FOLDER/.lookalike (or --index DIR): SQLite rows, the vectors, and a FAISS search
    structure (exact below 50,000 images, IVF above). Renamed files keep their vectors; unreadable files
    (corrupt, truncated, empty, not images, too large, no permission, broken links) are skipped and listed.
    Interrupt it at any moment, even with kill -9: the next run finishes the job. A damaged catalogue is
    restored from its last good copy (index.db.good, saved after every run that changed the index) and
    brought up to date; vectors lost from a truncated file are embedded again.

    The index remembers its --exclude patterns: later runs without --exclude apply them again, and a run
    with other patterns replaces them (rows of files now excluded go, files no longer excluded are embedded).

    Example:

        lookalike index photos/ --weights models/resnet18-cifar10.pt

        lookalike index photos/                     # later: only new, changed, deleted files

        lookalike index photos/ --index /tmp/photos-index --json

        lookalike index photos/ --exclude '*.tmp' --exclude 'raw/**'   # remembered for later runs

        lookalike index photos/ --repair             # after a disk error or a partial copy

        lookalike index /mnt/shared/photos/ --ray ray://head:10001   # embed on a Ray cluster
    """
    from lookalike.collection.location import default_location
    from lookalike.collection.reuse import update_settings
    from lookalike.collection.sync import index_folder
    from lookalike.scanning import check_exclude

    if rebuild and repair:
        raise LookalikeError("--rebuild and --repair cannot be combined: --rebuild starts afresh")
    check_exclude(exclude or ())  # before any model loads
    restored = None
    if network.weights is None:  # an update: the weights the index was made with
        location = index if index is not None else default_location(folder)
        settings = update_settings(location, model=network.model, size=network.size, rebuild=rebuild)
        network = IndexNetwork(settings.weights, settings.model, settings.size)
        restored = settings.restored
    embedding = asdict(network) | asdict(hardware)
    embedding["num_workers"] = embedding.pop("workers")  # as Embedder names it
    ray = embedding.pop("ray")
    if ray is not None:  # a wrong address is said before the model loads
        from lookalike.collection.distributed import check_address

        check_address(ray)
    embedder = load_embedder(**embedding)
    with StageProgress(_INDEX_LABELS, rate=True, keep=True) as progress:
        report = index_folder(
            folder,
            embedder,
            location=index,
            rebuild=rebuild,
            repair=repair,
            progress=progress,
            ray=ray,
            exclude=exclude or None,  # none given: the patterns the index remembers
        )
    report.restored = report.restored or restored
    _print_index_notes(report, repair=repair)
    if as_json:
        print_json({**report.to_dict(), "backend": embedder.backend, "precision": embedder.precision})
    else:
        _print_index_report(report, embedder)
    if strict and report.failed:
        print_error(f"{len(report.failed):,} file(s) or folder(s) could not be indexed (--strict)")
        raise typer.Exit(1)


def _print_index_notes(report: Any, *, repair: bool) -> None:
    """On stderr: what was restored or embedded again, or that ``--repair`` found nothing lost."""
    if report.restored:
        err.print(f"[yellow]note:[/] {report.restored}", highlight=False, soft_wrap=True)
    if report.repaired:
        err.print(
            f"[yellow]note:[/] embedded again {report.repaired:,} image(s) whose vectors were lost",
            highlight=False,
        )
    elif repair and not report.restored:
        err.print("checked the catalogue and every stored vector: nothing was lost", highlight=False)
    if report.exclude_before is not None:
        now, before = _patterns(report.exclude), _patterns(report.exclude_before)
        change = f"excluding {now} from now on (instead of {before})"
        err.print(f"[yellow]note:[/] {escape(change)}", highlight=False, soft_wrap=True)


def _patterns(patterns: list[str]) -> str:
    """Exclude patterns as a user would type them: ``'*.tmp' 'raw/**'``, or ``no pattern``."""
    return " ".join(repr(p) for p in patterns) or "no pattern"


def _print_index_report(report: Any, embedder: Embedder) -> None:
    verb = "rebuilt" if report.rebuilt else "created" if report.created else "updated"
    print_line(f"{verb} {shown(report.location)} for {shown(report.root)}")
    parts = [
        ("new", report.new),
        ("changed", report.changed),
        ("moved", report.moved),
        ("unchanged", report.unchanged),
        ("removed", report.removed),
        ("failed", len(report.failed)),
        ("skipped", report.skipped.total),
    ]
    print_line("  " + " · ".join(f"{name} {n:,}" for name, n in parts), wrap=False)
    speed = f", embedding at {report.images_per_s:,.0f} images/s" if report.images_per_s else ""
    print_line(
        f"  {report.images:,} images searchable · {report.seconds:.1f} s{speed} · "
        f"{embedder.describe()['model']} {embedder.precision} on {embedder.device} "
        f"({BACKENDS[embedder.backend]})",
        wrap=False,
    )
    print_line(f"  search: {_structure_line(report.search)}", wrap=False)
    if report.exclude:
        print_line(f"  excluding: {escape(_patterns(report.exclude))}", wrap=False)
    if report.failed:
        print_failures(f"failed {len(report.failed):,}:", [failure.reason for failure in report.failed])
    print_notes(report.skipped.lines())


def _skipped_note(data: dict[str, Any]) -> str:
    """The last run's skipped files, one line per kind, under the image counts of ``info``."""
    from lookalike.scanning import skipped_lines

    return "".join(f"\n{line}" for line in skipped_lines((data.get("last_run") or {}).get("skipped")))


def _structure_line(search: dict[str, Any] | None) -> str:
    if not search:
        return "none (no images)"
    text = f"{search['factory']} ({search['reason']})"
    if search.get("nprobe"):
        text += f" · nprobe {search['nprobe']} of {search['nlist']:,} lists"
    if search.get("tuned_recall_at_10") is not None:
        text += f" · tuned recall@10 {search['tuned_recall_at_10']:.3f}"
    return text


QueryArg = Annotated[
    str, typer.Argument(help="An image file, or the path of an indexed image.", show_default=False)
]
KOpt = Annotated[int, typer.Option("-k", "--k", min=1, help="How many look-alikes to show.")]
SearchMetricOpt = Annotated[
    str,
    typer.Option(
        help="cosine (the search index's order), or l2, l1, mse, ncc on the raw feature vectors, "
        "re-ranking the best cosine candidates."
    ),
]
CandidatesOpt = Annotated[
    int | None,
    typer.Option(help="Cosine candidates re-ranked by l2/l1/mse/ncc; default max(10·k, 100).", min=1),
]
HtmlOpt = Annotated[Path | None, quiet_option(help="Also write a contact sheet: a self-contained HTML page.")]
SheetPngOpt = Annotated[Path | None, quiet_option(help="Also write a contact sheet as a PNG image.")]
MovedWeightsOpt = Annotated[
    str | None, weights_option("Only if the weights file the index was built with has moved: its new path.")
]
QueryBackendOpt = Annotated[
    str,
    typer.Option(
        help="What embeds an image file: auto (the index's exported model with ONNX Runtime, no "
        "torch; PyTorch on CUDA), onnx or torch."
    ),
]
NoCopiesOpt = Annotated[
    bool,
    typer.Option(
        "--no-copies",
        help="Skip the copy check (the pixels of the query against those of each of the best 20 hits: "
        "3–6 ms a hit for small images, up to 0.3 s for large photos that are copies).",
    ),
]
#: Seconds the copy check may take from the command line (a page waits 1 s: lookalike.dedup.BUDGET_S).
COPIES_BUDGET_S = 10.0


def search(
    query: QueryArg,
    k: KOpt = 10,
    index: IndexOpt = None,
    metric: SearchMetricOpt = "cosine",
    candidates: CandidatesOpt = None,
    html: HtmlOpt = None,
    png: SheetPngOpt = None,
    weights: MovedWeightsOpt = None,
    device: DeviceOpt = None,
    backend: QueryBackendOpt = "auto",
    no_copies: NoCopiesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Find the indexed images most like QUERY: a table of rank, score and path, or JSON, or a contact sheet.

    QUERY is an image file (embedded with the index's own model and preprocessing) or an indexed path
    (its stored vector; the image itself is left out of the results). Cosine is higher-is-better; l2, l1
    and mse are distances (lower is more alike).

    Hits that show the same picture as QUERY (a re-encoded, resized, turned, mirrored, cropped or framed
    copy) are marked "copy", with how QUERY turns into them, by the pixel checks of `lookalike dedup`: the
    best 20 hits, within 10 s. In --json each hit has "copy" (true, false, or null: not checked) and
    "relation".

    Example:

        lookalike search photos/cat.jpg -k 5

        lookalike search ~/Downloads/query.jpg --index photos/.lookalike --metric ncc --html hits.html

        lookalike search photos/cat.jpg --json | jq '.hits[] | select(.copy) | .relpath'

        lookalike search photos/cat.jpg -k 100 --no-copies    # features only: no pixels read
    """
    from lookalike.collection.disk import guarded
    from lookalike.collection.index import Index
    from lookalike.collection.location import find_index

    location = index if index is not None else find_index(query)
    with guarded(location), Index.open(location) as idx:
        with model_status("searching…"):
            if weights is not None or device is not None or backend != "auto":
                idx.embedder(weights, device=device, backend=backend)  # type: ignore[arg-type]  # used below
            result = idx.search(query, k=k, metric=metric, candidates=candidates)
        backend_ran = idx.query_backend  # None: a stored vector answered
        entry = idx.entry(query) if result.query_kind == "indexed" else None
        query_file = idx.root / entry.path if entry is not None else Path(query)
    marks = None if no_copies else _copy_marks(query_file, result.hits)
    title = f"{len(result.hits)} most like {query} ({result.metric})"
    _contact_sheets(result, query, query_file, title, html=html, png=png, marks=marks)
    if as_json:
        data = result.to_dict()
        for i, hit in enumerate(data["hits"]):
            hit.update(marks[i].to_dict() if marks is not None else {"copy": None, "relation": None})
        print_json({**data, "backend": backend_ran})
        return
    _print_hits(result, title, marks)


def _copy_marks(query_file: Path, hits: list[Any]) -> list[CopyMark]:
    """Which hits show the same picture as the query file (:func:`lookalike.dedup.mark_copies`), and a
    note on stderr for the hits it could not check."""
    from lookalike.dedup import mark_copies

    with model_status("checking which hits are copies…"):
        marks = mark_copies(query_file, hits, budget=COPIES_BUDGET_S)
    why: dict[str, int] = {}
    for mark in marks:
        if mark.copy is None and mark.note:
            why[mark.note] = why.get(mark.note, 0) + 1
    print_notes([f"{n} hit{'s' if n > 1 else ''} {note}" for note, n in why.items()])
    return marks


def _contact_sheets(
    result: Any,
    query: str,
    query_file: Path,
    title: str,
    *,
    html: Path | None,
    png: Path | None,
    marks: list[CopyMark] | None = None,
) -> None:
    """The hits as an HTML page and/or a PNG image, the query first (copies marked in their captions)."""
    if html is None and png is None:
        return
    from lookalike.report import Tile, contact_sheet_html, contact_sheet_png

    query_tile = Tile(query_file, "query", query)
    same = [" · same picture" if marks is not None and marks[i].copy else "" for i in range(len(result.hits))]
    tiles = [
        Tile(h.path, f"#{h.rank} · {h.score:.4f}{s}", h.relpath)
        for h, s in zip(result.hits, same, strict=True)
    ]
    if html is not None:
        contact_sheet_html(tiles, html, title=title, query=query_tile)
        err.print(f"contact sheet: {html}", highlight=False)
    if png is not None:
        contact_sheet_png(tiles, png, title=title, query=query_tile)
        err.print(f"contact sheet: {png}", highlight=False)


def _copy_cell(mark: CopyMark) -> str:
    """A hit's cell in the table's Copy column: ``copy: rotated 90° clockwise``, empty, or a dim ``?``."""
    if mark.copy is None:
        return "[dim]?[/]"
    return f"[bold]copy[/]: {escape(mark.relation or '')}" if mark.copy else ""


def _print_hits(result: Any, title: str, marks: list[CopyMark] | None = None) -> None:
    how = "exact search" if result.exact else "approximate search"
    if result.candidates:
        how = f"{result.metric} re-ranking the {result.candidates} best cosine candidates of {how}"
    table = Table(title=title, title_justify="left")
    table.add_column("Rank", justify="right")
    table.add_column(f"{result.metric} {'↑' if result.higher_is_better else '↓'}", justify="right")
    table.add_column("Path")
    table.add_column("Size", justify="right", style="dim")
    if marks is not None:
        table.add_column("Copy")
    for i, h in enumerate(result.hits):
        dims = f"{h.width}×{h.height}" if h.width else ""
        copy = [_copy_cell(marks[i])] if marks is not None else []
        table.add_row(str(h.rank), f"{h.score:.4f}", escape(shown(h.path)), dims, *copy)
    console.print(table)
    print_line(f"[dim]{how} · {result.structure} over {shown(result.index)}[/]")
    if marks:
        copies = sum(bool(m.copy) for m in marks)
        checked = sum(m.copy is not None for m in marks)
        print_line(f"[dim]copies: {copies} of {checked} hits checked are the same picture as the query[/]")


InfoArg = Annotated[
    Path, typer.Argument(help="An index folder, or an indexed folder (or a folder inside one).")
]


def info(index: InfoArg = Path(), as_json: JsonOpt = False) -> None:
    """Describe an index: images, model and weights, search structure and its parameters, size on disk,
    and its health (catalogue sound, vectors present, last good copy, search structure current or stale).

    Example:

        lookalike info photos/

        lookalike info photos/.lookalike --json
    """
    from lookalike.collection.disk import StorageError, guarded
    from lookalike.collection.health import health
    from lookalike.collection.index import Index
    from lookalike.collection.location import find_index

    location = find_index(index)
    try:
        with guarded(location), Index.open(location) as idx:
            data = idx.info()
    except StorageError:
        h = health(location)
        if as_json:
            print_json({"health": h})
        else:
            print_rows(_health_rows(h))
        raise
    data["health"] = health(location)
    if as_json:
        print_json(data)
        return
    print_rows(_info_rows(data))


def _info_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """``lookalike info``'s lines: what the index holds, how it searches, its size and its health."""
    from lookalike.features.onnx import INDEX_MODEL_NAME

    pre = data["preprocessing"]
    disk = data["disk_bytes"]
    search = data["search"]
    rows = [
        ("Index", shown(Path(data["location"]))),
        ("Folder", shown(Path(data["root"]))),
        ("Images", f"{data['images']:,} searchable, {data['failed']:,} failed" + _skipped_note(data)),
        *([("Excluded", _patterns(data["exclude"]))] if data.get("exclude") else []),
        ("Model", f"{data['model']}{' (CIFAR stem)' if data['cifar_stem'] else ''}, {data['dim']}-d vectors"),
        ("Weights", f"{data['weights']}\n{data['fingerprint']}"),
        (
            "Preprocessing",
            f"resize {pre['resize_size']}, crop {pre['crop_size']}, {pre['interpolation']}, "
            f"mean {pre['mean']}, std {pre['std']}",
        ),
        ("Precision", data["precision"]),
        (
            "Backend",
            f"{BACKENDS.get(data['backend'], data['backend'])} (last run) · queries by image: "
            + (
                f"{INDEX_MODEL_NAME} in the index ({format_bytes(data['model_file'])}), no torch"
                if data["model_file"]
                else "PyTorch until the first query exports the model"
            ),
        ),
        ("Search", _structure_line(search)),
    ]
    if search:
        rows.append(
            (
                "",
                f"{search['ntotal']:,} vectors ({search['pending']:,} pending, {search['dead']:,} dead) · "
                f"about {format_bytes(search['bytes'])} in memory · built in "
                f"{search['build_seconds'] or 0:.1f} s at {when(search['built_at'])}",
            )
        )
    rows += [
        (
            "On disk",
            f"{format_bytes(disk['total'])}: database {format_bytes(disk['database'])}, vectors "
            f"{format_bytes(disk['vectors'])} ({data['vectors_rows']:,} rows, "
            f"{data['dead_vectors']:,} unused), "
            f"search {format_bytes(disk['search'])}",
        ),
        ("Created", when(data["created"])),
        ("Updated", when(data["updated"])),
        *_health_rows(data["health"]),
    ]
    return rows


def _health_rows(h: dict[str, Any]) -> list[tuple[str, str]]:
    """``lookalike info``'s health lines: catalogue, vectors, last good copy, search structure, the fix."""
    copy = h["copy"]
    saved = (
        f"{copy['images']:,} images, saved {when(copy['saved'])} ({format_bytes(copy['bytes'])})"
        if copy
        else "none yet"
    )
    rows = [("Health", f"catalogue {h['catalogue']}"), ("", f"last good copy: {saved}")]
    vectors = h["vectors"]
    if vectors is not None:
        state = "all present" if not vectors["lost"] else f"{vectors['lost']:,} lost"
        if not vectors["file"]:
            state += " (the vectors file is missing)"
        rows.insert(
            1, ("", f"vectors: {vectors['present']:,} of {vectors['committed']:,} rows present, {state}")
        )
    search = h["search"]
    if search is not None:
        text = search["state"]
        if search["state"] == "stale":
            text += (
                f" ({search['pending']:,} vectors not in it yet, {search['dead']:,} unused; updated on use)"
            )
        elif search["state"] == "missing":
            text += " (rebuilt from the rows on use)"
        rows.append(("", f"search structure: {text}"))
    if h["command"]:
        rows.append(("", f"to fix: {h['command']}"))
    return rows
