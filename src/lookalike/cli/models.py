"""The lecture's commands: ``compare``, ``summary``, ``models``, ``export-model`` and ``samples``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    shown,
)
from lookalike.errors import LookalikeError
from lookalike.units import format_bytes

if TYPE_CHECKING:
    from lookalike.compare import Comparison
    from lookalike.models import ModelSummary

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


def _parse_input(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        c, h, w = (int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"expected C×H×W such as 3x224x224, got {text!r}") from None
    return c, h, w


ModelName = Annotated[str, typer.Argument(help="resnet18, resnet34, resnet50, resnet101 or resnet152.")]
InputOpt = Annotated[str, typer.Option("--input", help="Input size C×H×W.")]
CifarStemOpt = Annotated[
    bool, typer.Option("--cifar-stem", help="3×3 stride-1 stem, no max-pool (for 32×32 inputs).")
]
NumClassesOpt = Annotated[int, typer.Option(help="Classifier outputs.")]
MemoryBatchOpt = Annotated[int, typer.Option(help="Batch size for the memory estimate.")]


def summary(
    name: ModelName,
    input_size: InputOpt = "3x224x224",
    cifar_stem: CifarStemOpt = False,
    num_classes: NumClassesOpt = 1000,
    batch_size: MemoryBatchOpt = 1,
    as_json: JsonOpt = False,
) -> None:
    """Print a ResNet's stage table (as in the ResNet paper) with parameter and memory totals.

    Example:

        lookalike summary resnet50
        lookalike summary resnet18 --input 3x32x32 --cifar-stem --num-classes 10
    """
    from lookalike.models import check_model_name
    from lookalike.models import summary as run_summary

    check_model_name(name)
    try:
        s = run_summary(
            name,
            input_size=_parse_input(input_size),
            cifar_stem=cifar_stem,
            num_classes=num_classes,
            batch_size=batch_size,
        )
    except ValueError as exc:
        raise LookalikeError(str(exc)) from None
    if as_json:
        print_json(s.to_dict())
        return
    _print_summary(s)


def _print_summary(s: ModelSummary) -> None:
    c, h, w = s.input_size
    table = Table(title=f"{s.name} at {c}×{h}×{w}", title_justify="left")
    table.add_column("Stage")
    table.add_column("Output", justify="right")
    table.add_column("Layers")
    table.add_column("Params", justify="right")
    for row in s.rows:
        layers = f"{row.note}\n{row.layers}" if row.note else row.layers
        table.add_row(row.name, f"{row.output_size[0]}×{row.output_size[1]}", layers, f"{row.params:,}")
    console.print(table)
    lines = [
        ("Total params", f"{s.total_params:,}"),
        ("Trainable params", f"{s.trainable_params:,}"),
        ("Mult-adds (G)", f"{s.mult_adds / 1e9:.2f}"),
        ("Input size (MB)", f"{s.input_mb:.2f}"),
        ("Forward/backward pass size (MB)", f"{s.forward_backward_mb:.2f}"),
        ("Params size (MB)", f"{s.params_mb:.2f}"),
        ("Estimated Total Size (MB)", f"{s.total_mb:.2f}"),
    ]
    for label, value in lines:
        print_line(f"{label + ':':34}{value:>14}")


def list_models_cmd(as_json: JsonOpt = False) -> None:
    """List the ResNets lookalike builds, with parameter counts and feature sizes.

    Example:

        lookalike models
    """
    from lookalike.models import list_models, random_info
    from lookalike.models import summary as run_summary

    rows: list[dict[str, Any]] = []
    for name in list_models():
        s = run_summary(name)
        rows.append(
            {
                "name": name,
                "params": s.total_params,
                "feature_dim": random_info(name).embed_dim,
                "blocks": [int(r.layers.rsplit("×", 1)[1]) for r in s.rows[1:5]],
                "mult_adds_g": round(s.mult_adds / 1e9, 2),
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table()
    for col in ("Model", "Params (1000 classes)", "Blocks", "Feature dim", "Mult-adds (G)"):
        table.add_column(col, justify="left" if col in ("Model", "Blocks") else "right")
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['params']:,}",
            "-".join(map(str, r["blocks"])),
            str(r["feature_dim"]),
            f"{r['mult_adds_g']:.2f}",
        )
    console.print(table)


OnnxOut = Annotated[Path, typer.Argument(help="The ONNX file to write.", show_default=False)]


@grouped
def export_model(out: OnnxOut, network: Network = Network(), as_json: JsonOpt = False) -> None:
    """Write the feature extractor (classifier removed) of any supported weights as an ONNX file.

    The file takes N×3×SIZE×SIZE float32 RGB and gives N×D float32 features; its metadata records the
    preprocessing (resize, crop, interpolation, mean, std) for use outside lookalike, e.g. with
    onnxruntime.InferenceSession(OUT).run(None, {"pixels": x}). The export is checked against PyTorch
    on a random batch before it is reported.

    Example:

        lookalike export-model resnet18-cifar10.onnx --weights models/resnet18-cifar10.pt
    """
    import numpy as np
    import torch

    from lookalike.features import Embedder
    from lookalike.onnx_backend import OnnxModel, export

    with model_status("exporting…"):
        emb = Embedder(**asdict(network), device="cpu", precision="float32", backend="torch")
        description = emb.describe()
        path = export(emb.model, description, out)
        onnx_model = OnnxModel(path)
        shape = (2, 3, emb.info.crop_size, emb.info.crop_size)
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        want = emb.embed_batch(torch.from_numpy(x)).numpy()
        got = onnx_model.run(x)
        cosine = float(
            ((want * got).sum(1) / (np.linalg.norm(want, axis=1) * np.linalg.norm(got, axis=1))).min()
        )
    size_bytes = path.stat().st_size
    data = {
        "path": str(path),
        "bytes": size_bytes,
        "input": {"name": "pixels", "shape": ["N", 3, emb.info.crop_size, emb.info.crop_size]},
        "output": {"name": "features", "shape": ["N", emb.dim]},
        "metadata": onnx_model.description,
        "check_cosine_vs_torch": round(cosine, 6),
    }
    if as_json:
        print_json(data)
        return
    i = emb.info
    print_line(f"wrote {shown(path)} ({format_bytes(size_bytes)})")
    print_line(
        f"  {i.arch}{' (CIFAR stem)' if i.cifar_stem else ''} · weights {i.source} ({i.fingerprint})\n"
        f"  input  pixels   N×3×{i.crop_size}×{i.crop_size} float32 RGB: resize the shorter side to "
        f"{i.resize_size} ({i.interpolation}, antialiased), centre-crop {i.crop_size}, scale to [0, 1], "
        f"normalise with mean {list(i.mean)}, std {list(i.std)}\n"
        f"  output features N×{emb.dim} float32 (not normalised)\n"
        f"  checked against PyTorch on a random batch: cosine {cosine:.6f}",
        wrap=False,
    )


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
