"""Commands on single images: ``compare`` (two images, on pixels and on deep features) and ``samples``
(photos and edited copies to try every command on)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lookalike.cli.options import Hardware, JsonOpt, Network, grouped
from lookalike.cli.render import (
    BACKENDS,
    console,
    err,
    fmt,
    model_status,
    print_json,
    print_line,
    print_notes,
)

if TYPE_CHECKING:
    from lookalike.compare import Comparison

ImageA = Annotated[Path, typer.Argument(help="First image.", show_default=False)]
ImageB = Annotated[Path, typer.Argument(help="Second image.", show_default=False)]
SpaceOpt = Annotated[str, typer.Option(help="pixels, features or both.")]


@grouped
def compare(
    a: ImageA,
    b: ImageB,
    space: SpaceOpt = "both",
    network: Network = Network(),
    hardware: Hardware = Hardware(),
    as_json: JsonOpt = False,
) -> None:
    """Compare two images: L1, MSE, cosine and NCC on raw pixels and on deep ResNet features.

    Both columns start from the same preprocessed tensors (resized, centre-cropped and normalised as the
    network sees them), so they are comparable: pixels are the network's input, features its pooled output.
    Lower L1/MSE and higher cosine/NCC mean more alike.

    Example:

        lookalike compare cat.jpg cat-flipped.jpg --weights models/resnet18-cifar10.pt
    """
    from lookalike.compare import compare as run_compare

    with model_status("loading model…"):
        # space, precision and backend are checked by the library
        result = run_compare(a, b, space=space, **asdict(network), **asdict(hardware))  # type: ignore[arg-type]
    if as_json:
        print_json(result.to_dict())
        return
    _print_comparison(result, f"{a.name} vs {b.name}")


def _print_comparison(result: Comparison, title: str) -> None:
    from lookalike.metrics import METRICS

    table = Table(title=title, title_justify="left")
    table.add_column("Method")
    table.add_column("", justify="center", style="dim")
    if result.pixels is not None:
        table.add_column("pixels", justify="right")
    if result.features is not None:
        table.add_column(f"{result.model} features", justify="right")
    for name, metric in METRICS.items():
        row = [metric.label, "↑" if metric.higher_is_better else "↓"]
        if result.pixels is not None:
            row.append(fmt(result.pixels[name]))
        if result.features is not None:
            row.append(fmt(result.features[name]))
        table.add_row(*row)
    console.print(table)
    stem = " (CIFAR stem)" if result.cifar_stem else ""
    print_line(
        f"[dim]{result.model}{stem} · input 3×{result.input_size}×{result.input_size} · {result.precision} · "
        f"{BACKENDS.get(result.backend, result.backend)} · weights {result.weights}\n"
        "↑ higher is more alike · ↓ lower is more alike[/]"
    )
    print_notes(result.notes)


SamplesFolder = Annotated[Path, typer.Argument(help="Where to write the sample images.")]


def samples(
    folder: SamplesFolder = Path("samples"),
    cifar: Annotated[
        Path | None,
        typer.Option(
            help="Also copy CIFAR-10 images from this folder of class folders into FOLDER/<class>/."
        ),
    ] = None,
    per_class: Annotated[int, typer.Option(min=1, help="CIFAR-10 images of each class to copy.")] = 100,
    broken: Annotated[bool, typer.Option(help="Also write an empty file and a truncated one.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write scikit-image's sample photos and edited copies (flipped, shifted, recoloured) to FOLDER.

    Works offline; handy for trying every command. Needs scikit-image (pip install 'lookalike[samples]').

    Example:

        lookalike samples samples/

        lookalike compare samples/chelsea.png samples/coffee.png -w models/resnet18-cifar10.pt

        lookalike samples photos/ --cifar ../shared/datasets/cifar10/train --broken   # the README's tour
    """
    from lookalike.samples import write_samples

    written = write_samples(folder, cifar=cifar, per_class=per_class, broken=broken)
    if as_json:
        print_json([str(p) for p in written])
        return
    if cifar is None:
        for p in written:
            print_line(str(p))
    err.print(f"{len(written)} images in {folder}/", highlight=False)
