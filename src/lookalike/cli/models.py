"""Commands on the networks: ``summary`` (a ResNet's stage table), ``models`` (the ResNets lookalike
builds) and ``export-model`` (a feature extractor as an ONNX file)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lookalike.cli.options import JsonOpt, Network, grouped
from lookalike.cli.render import console, model_status, print_json, print_line, shown
from lookalike.errors import LookalikeError
from lookalike.units import format_bytes

if TYPE_CHECKING:
    from lookalike.models import ModelSummary


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
    from lookalike.features.onnx import OnnxModel, export

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
