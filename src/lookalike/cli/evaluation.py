"""``evaluate``: retrieval quality on labelled images, pixels against deep features."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lookalike.cli.options import (
    Hardware,
    JsonOpt,
    Network,
    grouped,
    quiet_option,
)
from lookalike.cli.render import (
    BACKENDS,
    StageProgress,
    console,
    load_embedder,
    print_failures,
    print_json,
    print_line,
    shown,
)

if TYPE_CHECKING:
    from lookalike.evaluate import Evaluation

LabelledFolderArg = Annotated[
    Path, typer.Argument(help="A labelled folder: one sub-folder of images per class.", show_default=False)
]
NeighboursOpt = Annotated[
    int, typer.Option("-k", "--k", help="Neighbours per query (the k of P@k, mAP@k, kNN).")
]
QueriesOpt = Annotated[
    int, typer.Option(help="Images held out as queries: the same share of every class, fixed by --seed.")
]
GalleryLimitOpt = Annotated[
    int | None,
    quiet_option(help="Gallery of only N of the other images, drawn evenly from the classes; default: all."),
]
SplitSeedOpt = Annotated[int, typer.Option(help="Seed of the query/gallery split.")]
MetricsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--metric", help="Only this metric (repeat for several): l1, mse, cosine, ncc; default: all."
    ),
]
ExamplesPngOpt = Annotated[
    Path | None,
    quiet_option(
        help="Also draw a few queries with their 5 nearest images by pixels and by features (cosine)."
    ),
]


@grouped
def evaluate_cmd(
    folder: LabelledFolderArg,
    network: Network = Network(),
    k: NeighboursOpt = 10,
    queries: QueriesOpt = 1000,
    limit: GalleryLimitOpt = None,
    seed: SplitSeedOpt = 0,
    metric: MetricsOpt = None,
    png: ExamplesPngOpt = None,
    hardware: Hardware = Hardware(),
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval quality on labelled images: pixels vs deep features, for L1, MSE, cosine and NCC.

    Held-out query images look for their k nearest gallery images; a neighbour counts when it has the
    query's class. Reports precision@k, mAP@k and kNN accuracy (majority vote of the k nearest). Pixels
    are the preprocessed tensors that feed the network, so both columns see the same input.

    Example:

        lookalike evaluate cifar10/train --weights models/resnet18-cifar10.pt \\
            --queries 1000 --limit 10000 --png retrieval.png
    """
    from lookalike.evaluate import draw_examples, evaluate
    from lookalike.metrics import METRICS

    embedder = load_embedder(**asdict(network), **asdict(hardware))
    labels = {"embedding": "embedding (pixels + features)", "ranking": "ranking"}
    with StageProgress(labels) as progress:
        result = evaluate(
            folder,
            embedder=embedder,
            queries=queries,
            limit=limit,
            k=k,
            seed=seed,
            metrics=tuple(metric) if metric else tuple(METRICS),
            progress=progress,
        )
    if png is not None:
        draw_examples(result, png, metric="cosine" if "cosine" in result.table else next(iter(result.table)))
    if as_json:
        print_json(result.to_dict())
        return
    _print_evaluation(result)
    if png is not None:
        print_line(f"examples drawn to {shown(png)}")
    if result.failures:
        print_failures(f"skipped {len(result.failures):,} unreadable:", [r for _, r in result.failures])


def _print_evaluation(result: Evaluation) -> None:
    """The table of P@k, mAP@k and kNN accuracy per metric and space, and how it was measured."""
    table = Table(
        title=f"{shown(Path(result.root))}: {len(result.query_paths):,} queries · "
        f"{len(result.gallery_paths):,} gallery images · {len(result.classes)} classes · k = {result.k}",
        title_justify="left",
    )
    table.add_column("Metric")
    for measure in (f"P@{result.k}", f"mAP@{result.k}", "kNN acc"):
        table.add_column(f"{measure}\npixels", justify="right")
        table.add_column(f"{measure}\nfeatures", justify="right")
    for name, spaces in result.table.items():
        row = ["Cosine" if name == "cosine" else name.upper()]
        for key in ("p_at_k", "map_at_k", "knn_accuracy"):
            row += [f"{spaces['pixels'][key]:.3f}", f"[bold]{spaces['features'][key]:.3f}[/]"]
        table.add_row(*row)
    console.print(table)
    s = result.seconds
    print_line(
        f"[dim]chance P@{result.k} {result.chance_p_at_k:.3f} · {result.model} features, "
        f"input 3×{result.input_size}×{result.input_size}, {result.precision}, "
        f"{BACKENDS.get(result.backend, result.backend)} · embedding "
        f"{s['embedding']:.1f} s, ranking {s['ranking']:.1f} s · split seed {result.seed}[/]",
        wrap=False,
    )
