"""Embeddings in and out of an index: ``export`` (its rows and vectors as Parquet) and ``import`` (Parquet
vectors, from an export or a Spark or Ray job, as an index)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.options import IndexOpt, JsonOpt, quiet_option
from lookalike.cli.render import StageProgress, err, print_json, print_line, shown
from lookalike.errors import LookalikeError
from lookalike.units import format_bytes

ExportIndexArg = Annotated[
    Path,
    typer.Argument(
        help="An index folder, or an indexed folder (or a folder inside one).", show_default=False
    ),
]
OutArg = Annotated[
    Path,
    typer.Argument(
        help="Where to write: a folder of part files (part-00000.parquet …), or one FILE.parquet. A "
        "previous export there is replaced.",
        show_default=False,
    ),
]
RowsPerFileOpt = Annotated[
    int | None,
    quiet_option(min=1, help="Rows per part file of a folder export; default 100,000."),
]
SourceArg = Annotated[
    Path,
    typer.Argument(help="A Parquet file, or a folder of them (sub-folders included).", show_default=False),
]
RootOpt = Annotated[
    Path | None,
    quiet_option(
        "--root",
        help="The folder the paths in the file are relative to (a new index's); default: the folder it was "
        "exported from if it exists here, else the index folder's parent. Without --index, the index is "
        "ROOT/.lookalike.",
    ),
]


def export_cmd(
    index: ExportIndexArg, out: OutArg, rows_per_file: RowsPerFileOpt = None, as_json: JsonOpt = False
) -> None:
    """Write an index's images and vectors as Parquet: path, size, mtime_ns, sha256, width, height and
    the vector (a fixed-size list of float32), one row per searchable image.

    The file's key-value metadata says what made the vectors (model, weights fingerprint, preprocessing),
    so that `lookalike import` can check them. Standard types only: pyarrow, DuckDB, pandas, Polars, Spark
    and LanceDB read it as it is. Written under a temporary name and renamed into place: readers never see
    half an export. Needs pyarrow: pip install 'lookalike\\[parquet]'.

    Example:

        lookalike export photos/ embeddings/

        lookalike export photos/.lookalike embeddings.parquet --json

        duckdb -c "SELECT path, len(vector) FROM 'embeddings/*.parquet' LIMIT 3"
    """
    from lookalike.collection import export_parquet, find_index

    location = find_index(index)
    with StageProgress({"export": "exporting"}, rate=True) as progress:
        report = export_parquet(location, out, rows_per_file=rows_per_file, progress=progress)
    if as_json:
        print_json(report.to_dict())
        return
    files = f"{len(report.files)} file{'s' if len(report.files) != 1 else ''}"
    print_line(f"exported {shown(report.location)} to {shown(report.out)}")
    print_line(
        f"  {report.rows:,} images · {report.dim}-d float32 vectors · {files}, "
        f"{format_bytes(report.bytes)} · {report.seconds:.1f} s",
        wrap=False,
    )


def import_cmd(
    source: SourceArg, index: IndexOpt = None, root: RootOpt = None, as_json: JsonOpt = False
) -> None:
    """Make Parquet vectors an index, or add them to one: from `lookalike export`, or made elsewhere (a
    Spark or Ray job) with the same columns and metadata.

    An existing index takes only vectors of its own model, weights and dimension. Rows it already holds
    with the same size, mtime and SHA-256 are skipped, changed ones replaced. Written through the same
    crash-safe writer as `lookalike index`: interrupt it at any moment, even with kill -9, and the next
    import finishes the job. Needs pyarrow: pip install 'lookalike\\[parquet]'.

    Example:

        lookalike import embeddings/ --index photos-copy/.lookalike --root photos/

        lookalike import embeddings.parquet --root photos/ --json
    """
    from lookalike.collection import default_location, import_parquet

    if index is None:
        if root is None:
            raise LookalikeError(
                "say where the index goes: pass --index DIR, or --root FOLDER for FOLDER/.lookalike"
            )
        index = default_location(root)
    labels = {"import": "importing", "search": "search index"}
    with StageProgress(labels, rate=True, keep=True) as progress:
        report = import_parquet(source, index, root=root, progress=progress)
    if report.restored:
        err.print(f"[yellow]note:[/] {report.restored}", highlight=False, soft_wrap=True)
    if as_json:
        print_json(report.to_dict())
        return
    verb = "created" if report.created else "updated"
    print_line(f"{verb} {shown(report.location)} for {shown(report.root)} from {shown(report.source)}")
    parts = [("new", report.new), ("changed", report.changed), ("unchanged", report.unchanged)]
    print_line("  " + " · ".join(f"{name} {n:,}" for name, n in parts), wrap=False)
    print_line(f"  {report.images:,} images searchable · {report.seconds:.1f} s", wrap=False)
