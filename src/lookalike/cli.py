"""The ``lookalike`` command line: parse, call the library, print. No logic of its own.

Known errors (:class:`lookalike.errors.LookalikeError`) print one line and exit 1; ``LOOKALIKE_DEBUG=1``
shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from lookalike.dedup import STRICTNESS  # light: thresholds only, no torch
from lookalike.errors import LookalikeError, hint_for_cli
from lookalike.units import format_bytes

console = Console()
err = Console(stderr=True)


def _debug() -> bool:
    return os.environ.get("LOOKALIKE_DEBUG", "") not in ("", "0")


def _error_line(exc: LookalikeError, ctx: Any) -> str:
    """The error's message and hint, the hint's parameter names written as the running command's flags."""
    if exc.hint is None:
        return str(exc)
    sub = ctx.command.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
    flags = {p.name: p.opts[0] for p in (sub.params if sub else []) if p.opts and p.opts[0].startswith("-")}
    return f"{exc.message}; {hint_for_cli(exc.hint, flags)}"


class _Group(TyperGroup):
    """Turns known errors into one line on stderr and exit code 1 (2 for usage errors, as click does)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LookalikeError as exc:
            if _debug():
                raise
            err.print(f"[bold red]error:[/] {escape(_error_line(exc, ctx))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            if _debug():
                raise
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except Exception as exc:
            # exits, usage errors and aborts belong to click (vendored inside typer since 0.23)
            if _debug() or type(exc).__module__.startswith(("click", "typer")):
                raise
            err.print(
                f"[bold red]error:[/] unexpected {type(exc).__name__}: {exc} — set LOOKALIKE_DEBUG=1 "
                "for the traceback and please report it",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    name="lookalike",
    cls=_Group,
    help="How alike are these images? Pixel and deep ResNet similarity for two images, a model, and a "
    "whole collection.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


# Options shared by the commands that embed images.
WeightsOpt = Annotated[
    str,
    typer.Option(
        "--weights",
        "-w",
        envvar="LOOKALIKE_WEIGHTS",
        help="Weights: a torchvision name (DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2; downloaded when online), "
        "a local .pt file (state dict or lookalike checkpoint), or 'none' for random weights.",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="resnet18/34/50/101/152; default: read from the weights file, else resnet18."
    ),
]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N; default: cuda if available.")]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        help="auto (bf16 + channels_last on CUDA or AMX CPUs, else float32), float32, bfloat16 or float16."
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        help="What runs the network: auto (ONNX Runtime on the CPU in float32, PyTorch on CUDA), onnx or "
        "torch."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
SizeOpt = Annotated[
    int | None,
    typer.Option(help="Input size (crop) override, e.g. 224 or 32; default: the weights' own."),
]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4f}"


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="First image.", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Second image.", show_default=False)],
    space: Annotated[str, typer.Option(help="pixels, features or both.")] = "both",
    weights: WeightsOpt = "DEFAULT",
    model: ModelOpt = None,
    size: SizeOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
    backend: BackendOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Compare two images: L1, MSE, cosine and NCC on raw pixels and on deep ResNet features.

    Both columns start from the same preprocessed tensors (resized, centre-cropped and normalised as the
    network sees them), so they are comparable: pixels are the network's input, features its pooled output.
    Lower L1/MSE and higher cosine/NCC mean more alike.

    Example:

        lookalike compare cat.jpg cat-flipped.jpg --weights ../shared/models/resnet18-cifar10.pt
    """
    from lookalike.compare import compare as run_compare
    from lookalike.metrics import METRICS

    with err.status("loading model…", spinner="dots"):
        result = run_compare(
            a,
            b,
            space=space,  # type: ignore[arg-type]  # checked by the library
            weights=weights,
            model=model,
            size=size,
            device=device,
            precision=precision,  # type: ignore[arg-type]  # checked by the library
            backend=backend,  # type: ignore[arg-type]  # checked by the library
        )
    if as_json:
        _print_json(result.to_dict())
        return
    table = Table(title=f"{a.name} vs {b.name}", title_justify="left")
    table.add_column("Method")
    table.add_column("", justify="center", style="dim")
    if result.pixels is not None:
        table.add_column("pixels", justify="right")
    if result.features is not None:
        table.add_column(f"{result.model} features", justify="right")
    for name, metric in METRICS.items():
        row = [metric.label, "↑" if metric.higher_is_better else "↓"]
        if result.pixels is not None:
            row.append(_fmt(result.pixels[name]))
        if result.features is not None:
            row.append(_fmt(result.features[name]))
        table.add_row(*row)
    console.print(table)
    stem = " (CIFAR stem)" if result.cifar_stem else ""
    console.print(
        f"[dim]{result.model}{stem} · input 3×{result.input_size}×{result.input_size} · {result.precision} · "
        f"{_BACKENDS.get(result.backend, result.backend)} · weights {result.weights}\n"
        "↑ higher is more alike · ↓ lower is more alike[/]",
        highlight=False,
    )


# How the backends are named in tables and summary lines.
_BACKENDS = {"onnx": "ONNX Runtime", "torch": "PyTorch"}


def _parse_input(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        c, h, w = (int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"expected C×H×W such as 3x224x224, got {text!r}") from None
    return c, h, w


@app.command()
def summary(
    name: Annotated[str, typer.Argument(help="resnet18, resnet34, resnet50, resnet101 or resnet152.")],
    input_size: Annotated[str, typer.Option("--input", help="Input size C×H×W.")] = "3x224x224",
    cifar_stem: Annotated[
        bool, typer.Option("--cifar-stem", help="3×3 stride-1 stem, no max-pool (for 32×32 inputs).")
    ] = False,
    num_classes: Annotated[int, typer.Option(help="Classifier outputs.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Batch size for the memory estimate.")] = 1,
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
        _print_json(s.to_dict())
        return
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
        console.print(f"{label + ':':34}{value:>14}", highlight=False)


@app.command("models")
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
        _print_json(rows)
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


@app.command("export-model")
def export_model(
    out: Annotated[Path, typer.Argument(help="The ONNX file to write.", show_default=False)],
    weights: WeightsOpt = "DEFAULT",
    model: ModelOpt = None,
    size: SizeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the feature extractor (classifier removed) of any supported weights as an ONNX file.

    The file takes N×3×SIZE×SIZE float32 RGB and gives N×D float32 features; its metadata records the
    preprocessing (resize, crop, interpolation, mean, std) for use outside lookalike, e.g. with
    onnxruntime.InferenceSession(OUT).run(None, {"pixels": x}). The export is checked against PyTorch
    on a random batch before it is reported.

    Example:

        lookalike export-model resnet18-cifar10.onnx --weights ../shared/models/resnet18-cifar10.pt
    """
    import numpy as np
    import torch

    from lookalike.features import Embedder
    from lookalike.onnx_backend import OnnxModel, export

    with err.status("exporting…", spinner="dots"):
        emb = Embedder(weights, model=model, size=size, device="cpu", precision="float32", backend="torch")
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
        _print_json(data)
        return
    i = emb.info
    console.print(f"wrote {_shown(path)} ({format_bytes(size_bytes)})", highlight=False)
    console.print(
        f"  {i.arch}{' (CIFAR stem)' if i.cifar_stem else ''} · weights {i.source} ({i.fingerprint})\n"
        f"  input  pixels   N×3×{i.crop_size}×{i.crop_size} float32 RGB: resize the shorter side to "
        f"{i.resize_size} ({i.interpolation}, antialiased), centre-crop {i.crop_size}, scale to [0, 1], "
        f"normalise with mean {list(i.mean)}, std {list(i.std)}\n"
        f"  output features N×{emb.dim} float32 (not normalised)\n"
        f"  checked against PyTorch on a random batch: cosine {cosine:.6f}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def samples(
    folder: Annotated[Path, typer.Argument(help="Where to write the sample images.")] = Path("samples"),
    as_json: JsonOpt = False,
) -> None:
    """Write scikit-image's sample photos and edited copies (flipped, shifted, recoloured) to FOLDER.

    Works offline; handy for trying every command. Needs scikit-image (pip install 'lookalike[samples]').

    Example:

        lookalike samples samples/

        lookalike compare samples/chelsea.png samples/coffee.png -w ../shared/models/resnet18-cifar10.pt
    """
    from lookalike.samples import write_samples

    written = write_samples(folder)
    if as_json:
        _print_json([str(p) for p in written])
        return
    for p in written:
        console.print(str(p), highlight=False)
    err.print(f"{len(written)} images in {folder}/", highlight=False)


# Options that --resume accepts (everything else comes from the run being continued).
_RESUME_OPTIONS = frozenset({"ctx", "resume", "device", "workers", "compile_model", "as_json"})


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            show_default=False,
            help="cifar10 (torchvision; downloads when online), an ImageFolder tree DIR/<class>/image.jpg "
            "such as ../shared/datasets/cifar10/train, or a .zip of one.",
        ),
    ] = None,
    recipe: Annotated[
        str,
        typer.Option(
            help="fast (CIFAR-stem ResNet-18, on-device augmentation, SGD one-cycle, bf16 on GPUs) or seed "
            "(the lecture's baseline: 7×7 stem, Adam 1e-3, no augmentation, float32)."
        ),
    ] = "fast",
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="resnet18/34/50/101/152; default: the recipe's (resnet18)."),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help="Passes over the training split; default: the recipe's (fast 20, seed 5).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Images per optimizer step, all processes together; default 512.", show_default=False
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Peak learning rate; default: the recipe's (fast 0.4 per 512 images, scaled linearly with "
            "--batch-size; seed 1e-3).",
            show_default=False,
        ),
    ] = None,
    val_split: Annotated[
        float,
        typer.Option(
            help="Fraction of each class held out for validation (a fixed split); 0 trains on everything."
        ),
    ] = 0.1,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Use only N images, drawn evenly from the classes (quick trials).", show_default=False
        ),
    ] = None,
    size: Annotated[
        int, typer.Option(help="Image size: the shorter side is resized, then centre-cropped to SIZE×SIZE.")
    ] = 32,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of initialisation, shuffling and augmentation (the validation split stays the same)."
        ),
    ] = 0,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            "-w",
            show_default=False,
            help="Start from these weights (a .pt file or a torchvision name) instead of random ones.",
        ),
    ] = None,
    device: DeviceOpt = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto, float32, bfloat16 or float16; default: the recipe's (fast: auto = bf16 on CUDA and "
            "AMX CPUs, else float32; seed: float32).",
            show_default=False,
        ),
    ] = None,
    compile_model: Annotated[
        bool,
        typer.Option(
            "--compile", help="torch.compile the model: faster steps on GPUs, compile time reported apart."
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes for decoding images and for the seed recipe's DataLoader.",
            show_default=False,
        ),
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the run folders.")] = Path("runs"),
    name: Annotated[
        str | None,
        typer.Option(help="Run folder name under --runs-dir; default: a timestamp.", show_default=False),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder (e.g. runs/NAME) from its last completed epoch, with its "
            "own settings.",
            show_default=False,
        ),
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option(
            help="Where torchvision keeps CIFAR-10 (--data cifar10); default: the cache folder.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a ResNet classifier on CIFAR-10 or any labelled image folder; the result works as --weights.

    Writes RUNS_DIR/NAME/: model.pt (weights, classes, mean/std, recipe, per-epoch metrics, versions),
    last.pt (for --resume), metrics.csv, metrics.json, curves.png and confusion.png. A folder is decoded
    once into a cache ($LOOKALIKE_CACHE, default ~/.cache/lookalike), so later runs start in seconds.
    Ctrl-C keeps the last completed epoch: continue with --resume. Several GPUs: torchrun --nproc_per_node N
    -m lookalike train … (only rank 0 prints and writes).

    Example:

        lookalike train --data ../shared/datasets/cifar10/train --val-split 0.1 --epochs 20

        lookalike train --data ../shared/datasets/cifar10/train --recipe seed --limit 2000 --epochs 1

        lookalike train --resume runs/20250101-120000
    """
    import contextlib

    from lookalike.train import RichReporter, TrainConfig, get_recipe
    from lookalike.train import resume as resume_run
    from lookalike.train import train as run_train

    if resume is not None:
        given = [
            p.name
            for p in ctx.command.params
            if p.name
            and p.name not in _RESUME_OPTIONS
            and getattr(ctx.get_parameter_source(p.name), "name", None) == "COMMANDLINE"
        ]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise LookalikeError(
                f"--resume continues {resume} with its own settings; drop {flag} (only "
                "--device, --workers and --compile may change)"
            )
    elif data is None:
        raise LookalikeError(
            "pass --data cifar10, --data DIR (an ImageFolder tree such as "
            "../shared/datasets/cifar10/train), or --resume RUN"
        )
    main_process = os.environ.get("RANK", "0") == "0"
    reporter = RichReporter(err) if main_process else None
    try:
        with reporter if reporter is not None else contextlib.nullcontext():
            if resume is not None:
                result = resume_run(
                    resume, device=device, workers=workers, compile=compile_model or None, reporter=reporter
                )
            else:
                assert data is not None
                chosen = get_recipe(recipe, arch=model, epochs=epochs, batch_size=batch_size, lr=lr)
                config = TrainConfig(
                    data=data,
                    val_split=val_split,
                    size=size,
                    limit=limit,
                    seed=seed,
                    weights=weights,
                    device=device,
                    precision=precision,
                    compile=compile_model,
                    workers=workers,
                    data_root=str(data_root) if data_root else None,
                    runs_dir=str(runs_dir),
                    name=name,
                )
                result = run_train(config, chosen, reporter=reporter)
    except KeyboardInterrupt:
        run_dir = reporter.run_dir if reporter is not None else None
        if main_process and run_dir is not None and (run_dir / "last.pt").exists():
            err.print(
                f"[yellow]interrupted[/]; the last completed epoch is saved: continue with "
                f"lookalike train --resume {run_dir}",
                highlight=False,
            )
            raise typer.Exit(130) from None
        raise
    if not main_process:
        return
    if as_json:
        _print_json(result.to_dict())
        return
    acc = "—" if result.val_acc is None else f"{100 * result.val_acc:.2f}%"
    epochs_done = f"{len(result.epochs)} epoch" + ("s" if len(result.epochs) != 1 else "")
    console.print(
        f"validation accuracy {acc} after {epochs_done} · "
        f"{result.train_seconds:.1f} s training at {result.images_per_s:,.0f} img/s · data "
        f"{result.data_seconds:.1f} s · {result.device} {result.precision}",
        highlight=False,
    )
    if result.checkpoint is not None:
        console.print(
            f"saved {result.checkpoint} (use it as --weights); score it again with: lookalike "
            f"evaluate-model {result.run_dir} --data {result.config.data} --split val",
            highlight=False,
        )


@app.command("evaluate-model")
def evaluate_model(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="A model.pt from lookalike train, its run folder, or a ResNet state dict with a classifier.",
            show_default=False,
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            show_default=False,
            help="An ImageFolder tree DIR/<class>/image.jpg, a .zip of one, or cifar10 (its test split).",
        ),
    ],
    split: Annotated[
        str,
        typer.Option(
            help="all: every image of --data; val or train: the held-out (or training) images of the run "
            "that made CHECKPOINT, split again exactly as in training."
        ),
    ] = "all",
    limit: Annotated[
        int | None,
        typer.Option(help="Score only N images, drawn evenly from the classes.", show_default=False),
    ] = None,
    tta: Annotated[
        bool | None,
        typer.Option(
            "--tta/--no-tta",
            help="Average each image with its mirror image; default: as the recipe trained.",
            show_default=False,
        ),
    ] = None,
    confusion: Annotated[
        Path | None, typer.Option(help="Also draw the confusion matrix to this PNG file.", show_default=False)
    ] = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
    batch_size: Annotated[
        int | None,
        typer.Option(help="Images per batch; default 1024 on CUDA, 256 on CPU.", show_default=False),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes for decoding images.", show_default=False)
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option(help="Where torchvision keeps CIFAR-10 (--data cifar10).", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a classifier checkpoint on labelled images: accuracy, per-class accuracy, confusion matrix.

    Class folders are matched to the checkpoint's classes by name; images are preprocessed as its metadata
    says (size, mean, std).

    Example:

        lookalike evaluate-model runs/NAME --data ../shared/datasets/cifar10/train --split val

        lookalike evaluate-model runs/NAME/model.pt --data photos/ --confusion confusion.png --json
    """
    from lookalike.report import plot_confusion
    from lookalike.train import RichReporter, evaluate_checkpoint

    if split not in ("all", "train", "val"):
        raise LookalikeError(f"--split {split!r} must be all, train or val")
    with RichReporter(err) as reporter:
        result = evaluate_checkpoint(
            checkpoint,
            data,
            split=split,  # type: ignore[arg-type]
            limit=limit,
            tta=tta,
            device=device,
            precision=precision,
            batch_size=batch_size,
            data_root=data_root,
            workers=workers,
            reporter=reporter,
        )
    if confusion is not None:
        plot_confusion(result.confusion, result.classes, confusion, title=Path(result.checkpoint).parent.name)
    if as_json:
        _print_json(result.to_dict())
        return
    if result.skipped:
        err.print(
            f"skipped {len(result.skipped)} unreadable file(s), e.g. {result.skipped[0][0]}: "
            f"{result.skipped[0][1]}",
            highlight=False,
        )
    console.print(f"{result.checkpoint} on {result.data} ({result.split})", highlight=False)
    table = Table()
    for col in ("Class", "Images", "Correct", "Accuracy"):
        table.add_column(col, justify="left" if col == "Class" else "right")
    for row in result.per_class:
        table.add_row(
            row["class"], f"{row['images']:,}", f"{row['correct']:,}", f"{100 * row['accuracy']:.1f}%"
        )
    table.add_section()
    table.add_row(
        "all",
        f"{result.images:,}",
        f"{round(result.accuracy * result.images):,}",
        f"{100 * result.accuracy:.2f}%",
        style="bold",
    )
    console.print(table)
    matrix = Table(title="Confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    matrix.add_column("")
    for name in result.classes:
        matrix.add_column(name[:6], justify="right")
    for i, (name, counts) in enumerate(zip(result.classes, result.confusion, strict=True)):
        if sum(counts):
            matrix.add_row(
                name,
                *(
                    f"[bold]{c}[/]" if j == i else (str(c) if c else "[dim]·[/]")
                    for j, c in enumerate(counts)
                ),
            )
    console.print(matrix)
    console.print(
        f"accuracy {100 * result.accuracy:.2f}% on {result.images:,} images · loss "
        f"{result.loss:.4f} · TTA {'on' if result.tta else 'off'} · {result.device} "
        f"{result.precision}" + (f" · confusion matrix in {confusion}" if confusion else ""),
        highlight=False,
    )


# ----------------------------------------------------------------------------------------------------------
# Collections: index, search, info


IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        "-i",
        show_default=False,
        help="The index folder; default: FOLDER/.lookalike (for search: .lookalike in the query's folder "
        "or the nearest folder above it).",
    ),
]


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is below it, else as is."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _when(stamp: float | None) -> str:
    import datetime

    if not stamp:
        return "—"
    return datetime.datetime.fromtimestamp(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _structure_line(search: dict[str, Any] | None) -> str:
    if not search:
        return "none (no images)"
    text = f"{search['factory']} ({search['reason']})"
    if search.get("nprobe"):
        text += f" · nprobe {search['nprobe']} of {search['nlist']:,} lists"
    if search.get("tuned_recall_at_10") is not None:
        text += f" · tuned recall@10 {search['tuned_recall_at_10']:.3f}"
    return text


# The phases index_folder reports, as the bars name them.
_INDEX_LABELS = {
    "scan": "listing files",
    "hash": "checking changed files",
    "embed": "embedding",
    "search": "search index",
}


@app.command("index")
def index_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Folder of images to index, sub-folders included.", show_default=False)
    ],
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            "-w",
            envvar="LOOKALIKE_WEIGHTS",
            help="Weights: a torchvision name (DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2; downloaded when "
            "online), a local .pt file (state dict or lookalike checkpoint), or 'none' for random weights; "
            "default: those the index was built with, else DEFAULT.",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    size: SizeOpt = None,
    index: IndexOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Replace the index (e.g. one made with other weights).")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Check the catalogue and every stored vector; embed again only the files whose vectors "
            "are lost or unreadable, drop rows of files that are gone, rebuild the search structure.",
        ),
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when any file or folder was skipped.")
    ] = False,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
    backend: BackendOpt = "auto",
    batch_size: Annotated[
        int | None, typer.Option(help="Images per batch; default 256 on CUDA, 64 on CPU.", show_default=False)
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes for decoding images.", show_default=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Embed every image of FOLDER into its index once; later runs touch only new, changed, deleted files.

    The index lives in FOLDER/.lookalike (or --index DIR): SQLite rows, the vectors, and a FAISS search
    structure (exact below 50,000 images, IVF above). Renamed files keep their vectors; unreadable files
    (corrupt, truncated, empty, not images, too large, no permission, broken links) are skipped and listed.
    Interrupt it at any moment, even with kill -9: the next run finishes the job. A damaged catalogue is
    restored from its last good copy (index.db.good, saved after every run that changed the index) and
    brought up to date; vectors lost from a truncated file are embedded again.

    Example:

        lookalike index photos/ --weights ../shared/models/resnet18-cifar10.pt

        lookalike index photos/                     # later: only new, changed, deleted files

        lookalike index photos/ --index /tmp/photos-index --json

        lookalike index photos/ --repair             # after a disk error or a partial copy
    """
    from lookalike.features import Embedder
    from lookalike.index import DB_NAME, Index, default_location, index_folder
    from lookalike.storage import COPY_NAME, StorageError, restore_if_damaged

    if rebuild and repair:
        raise LookalikeError("--rebuild and --repair cannot be combined: --rebuild starts afresh")
    restored = None
    if weights is None:  # an update: the weights the index was made with
        location = index if index is not None else default_location(folder)
        weights = "DEFAULT"
        if not rebuild and ((location / DB_NAME).is_file() or (location / COPY_NAME).is_file()):
            try:
                with Index.open(location) as existing:
                    existing.made_by  # noqa: B018  # reads the catalogue: raises if it is damaged
            except StorageError as exc:
                if exc.kind not in ("damaged", "missing"):
                    raise
                restored = restore_if_damaged(location)  # its copy says which weights made it
                if restored is None:
                    raise
            with Index.open(location) as existing:
                weights = existing.weights_source()
                model = model or existing.made_by.get("model")
                size = size or existing.made_by.get("crop_size")

    with err.status("loading model…", spinner="dots"):
        embedder = Embedder(
            weights,
            model=model,
            size=size,
            device=device,
            precision=precision,  # type: ignore[arg-type]  # checked by the library
            batch_size=batch_size,
            num_workers=workers,
            backend=backend,  # type: ignore[arg-type]  # checked by the library
        )
    with _StageProgress(_INDEX_LABELS, rate=True, keep=True) as progress:
        report = index_folder(
            folder, embedder, location=index, rebuild=rebuild, repair=repair, progress=progress
        )
    report.restored = report.restored or restored
    if report.restored:
        err.print(f"[yellow]note:[/] {report.restored}", highlight=False, soft_wrap=True)
    if report.repaired:
        err.print(
            f"[yellow]note:[/] embedded again {report.repaired:,} image(s) whose vectors were lost",
            highlight=False,
        )
    elif repair and not report.restored:
        err.print("checked the catalogue and every stored vector: nothing was lost", highlight=False)
    if as_json:
        _print_json({**report.to_dict(), "backend": embedder.backend})
    else:
        verb = "rebuilt" if report.rebuilt else "created" if report.created else "updated"
        console.print(f"{verb} {_shown(report.location)} for {_shown(report.root)}", highlight=False)
        parts = [
            ("new", report.new),
            ("changed", report.changed),
            ("moved", report.moved),
            ("unchanged", report.unchanged),
            ("removed", report.removed),
            ("failed", len(report.failed)),
        ]
        console.print(
            "  " + " · ".join(f"{name} {n:,}" for name, n in parts), highlight=False, soft_wrap=True
        )
        speed = f", embedding at {report.images_per_s:,.0f} images/s" if report.images_per_s else ""
        console.print(
            f"  {report.images:,} images searchable · {report.seconds:.1f} s{speed} · "
            f"{embedder.describe()['model']} {embedder.precision} on {embedder.device} "
            f"({_BACKENDS[embedder.backend]})",
            highlight=False,
            soft_wrap=True,
        )
        console.print(f"  search: {_structure_line(report.search)}", highlight=False, soft_wrap=True)
        if report.failed:
            console.print(f"skipped {len(report.failed):,}:", highlight=False)
            for failure in report.failed:
                console.print(f"  {failure.reason}", highlight=False, soft_wrap=True)
    if strict and report.failed:
        err.print(
            f"[bold red]error:[/] {len(report.failed):,} file(s) or folder(s) could not be indexed "
            "(--strict)",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(help="An image file, or the path of an indexed image.", show_default=False),
    ],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many look-alikes to show.")] = 10,
    index: IndexOpt = None,
    metric: Annotated[
        str,
        typer.Option(
            help="cosine (the search index's order), or l2, l1, mse, ncc on the raw feature vectors, "
            "re-ranking the best cosine candidates."
        ),
    ] = "cosine",
    candidates: Annotated[
        int | None,
        typer.Option(help="Cosine candidates re-ranked by l2/l1/mse/ncc; default max(10·k, 100).", min=1),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write a contact sheet: a self-contained HTML page.", show_default=False),
    ] = None,
    png: Annotated[
        Path | None, typer.Option(help="Also write a contact sheet as a PNG image.", show_default=False)
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            "-w",
            show_default=False,
            help="Only if the weights file the index was built with has moved: its new path.",
        ),
    ] = None,
    device: DeviceOpt = None,
    backend: Annotated[
        str,
        typer.Option(
            help="What embeds an image file: auto (the index's exported model with ONNX Runtime, no "
            "torch; PyTorch on CUDA), onnx or torch."
        ),
    ] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Find the indexed images most like QUERY: a table of rank, score and path, or JSON, or a contact sheet.

    QUERY is an image file (embedded with the index's own model and preprocessing) or an indexed path
    (its stored vector; the image itself is left out of the results). Cosine is higher-is-better; l2, l1
    and mse are distances (lower is more alike).

    Example:

        lookalike search photos/cat.jpg -k 5

        lookalike search ~/Downloads/query.jpg --index photos/.lookalike --metric ncc --html hits.html
    """
    from lookalike.index import Index, find_index
    from lookalike.report import Tile, contact_sheet_html, contact_sheet_png
    from lookalike.storage import guarded

    location = index if index is not None else find_index(query)
    with guarded(location), Index.open(location) as idx:
        with err.status("searching…", spinner="dots"):
            if weights is not None or device is not None or backend != "auto":
                idx.embedder(weights, device=device, backend=backend)  # type: ignore[arg-type]  # used below
            result = idx.search(query, k=k, metric=metric, candidates=candidates)
        backend_ran = idx.query_backend  # None: a stored vector answered
        entry = idx.entry(query) if result.query_kind == "indexed" else None
        query_file = idx.root / entry.path if entry is not None else Path(query)
    how = "exact search" if result.exact else "approximate search"
    if result.candidates:
        how = f"{result.metric} re-ranking the {result.candidates} best cosine candidates of {how}"
    title = f"{len(result.hits)} most like {query} ({result.metric})"
    if html is not None or png is not None:
        query_tile = Tile(query_file, "query", query)
        tiles = [Tile(h.path, f"#{h.rank} · {h.score:.4f}", h.relpath) for h in result.hits]
        if html is not None:
            contact_sheet_html(tiles, html, title=title, query=query_tile)
            err.print(f"contact sheet: {html}", highlight=False)
        if png is not None:
            contact_sheet_png(tiles, png, title=title, query=query_tile)
            err.print(f"contact sheet: {png}", highlight=False)
    if as_json:
        _print_json({**result.to_dict(), "backend": backend_ran})
        return
    table = Table(title=title, title_justify="left")
    table.add_column("Rank", justify="right")
    table.add_column(f"{result.metric} {'↑' if result.higher_is_better else '↓'}", justify="right")
    table.add_column("Path")
    table.add_column("Size", justify="right", style="dim")
    for h in result.hits:
        dims = f"{h.width}×{h.height}" if h.width else ""
        table.add_row(str(h.rank), f"{h.score:.4f}", _shown(h.path), dims)
    console.print(table)
    console.print(f"[dim]{how} · {result.structure} over {_shown(result.index)}[/]", highlight=False)


@app.command()
def info(
    index: Annotated[
        Path,
        typer.Argument(help="An index folder, or an indexed folder (or a folder inside one)."),
    ] = Path(),
    as_json: JsonOpt = False,
) -> None:
    """Describe an index: images, model and weights, search structure and its parameters, size on disk,
    and its health (catalogue sound, vectors present, last good copy, search structure current or stale).

    Example:

        lookalike info photos/

        lookalike info photos/.lookalike --json
    """
    from lookalike.index import Index, find_index
    from lookalike.onnx_backend import INDEX_MODEL_NAME
    from lookalike.storage import StorageError, guarded, health

    location = find_index(index)
    try:
        with guarded(location), Index.open(location) as idx:
            data = idx.info()
    except StorageError:
        _print_health(health(location), as_json=as_json)
        raise
    data["health"] = health(location)
    if as_json:
        _print_json(data)
        return
    pre = data["preprocessing"]
    disk = data["disk_bytes"]
    search = data["search"]
    rows = [
        ("Index", _shown(Path(data["location"]))),
        ("Folder", _shown(Path(data["root"]))),
        ("Images", f"{data['images']:,} searchable, {data['failed']:,} failed"),
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
            f"{_BACKENDS.get(data['backend'], data['backend'])} (last run) · queries by image: "
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
                f"{search['build_seconds'] or 0:.1f} s at {_when(search['built_at'])}",
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
        ("Created", _when(data["created"])),
        ("Updated", _when(data["updated"])),
        *_health_rows(data["health"]),
    ]
    _print_rows(rows)


def _print_rows(rows: list[tuple[str, str]]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table, highlight=False)


def _health_rows(h: dict[str, Any]) -> list[tuple[str, str]]:
    """``lookalike info``'s health lines: catalogue, vectors, last good copy, search structure, the fix."""
    copy = h["copy"]
    saved = (
        f"{copy['images']:,} images, saved {_when(copy['saved'])} ({format_bytes(copy['bytes'])})"
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


def _print_health(h: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        _print_json({"health": h})
    else:
        _print_rows(_health_rows(h))


# ----------------------------------------------------------------------------------------------------------
# Collections: dedup, evaluate


class _StageProgress:
    """Bars on stderr for work that reports ``progress(stage, done, total)``, one bar per stage.

    ``rate`` adds images/s and the time remaining; ``keep`` leaves the finished bars on screen.
    """

    def __init__(self, labels: dict[str, str], *, rate: bool = False, keep: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} img/s" if speed else "", style="progress.data.speed")

        columns: list[Any] = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24 if rate else None),
            MofNCompleteColumn(),
        ]
        columns += [Rate(), TimeElapsedColumn(), TimeRemainingColumn()] if rate else [TimeElapsedColumn()]
        self.bar = Progress(*columns, console=err, transient=not keep)
        self.labels = labels
        self.tasks: dict[str, Any] = {}
        self.started = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.started:  # started on the first report: an early error prints nothing else
            self.bar.start()
            self.started = True
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(self.labels.get(stage, stage), total=total or None)
        self.bar.update(self.tasks[stage], completed=done, total=total or None)

    def __enter__(self) -> _StageProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.bar.stop()


def _print_groups(result: Any) -> None:
    """The duplicate groups as one table, a section per group, the keeper first and marked."""
    table = Table(title_justify="left", show_edge=False, pad_edge=False)
    numbers = ("Group", "Pixels", "Size", "NCC", "RMSE", "SSIM")
    for col in ("Group", "", "File", "Pixels", "Size", "Relation to keeper", "NCC", "RMSE", "SSIM"):
        table.add_column(col, justify="right" if col in numbers else "left")
    for n, group in enumerate(result.groups, 1):
        if n > 1:
            table.add_section()
        for m in group.members:
            table.add_row(
                str(n) if m.keeper else "",
                "[bold green]keep[/]" if m.keeper else "[dim]dup[/]",
                f"[bold]{_shown(m.path)}[/]" if m.keeper else _shown(m.path),
                f"{m.width}×{m.height}",
                format_bytes(m.bytes),
                "" if m.keeper else m.kind,
                "" if m.keeper else f"{m.ncc:.3f}",
                "" if m.keeper else f"{m.rmse:.3f}",
                "" if m.keeper else f"{m.ssim:.3f}",
            )
    console.print(table, highlight=False)


@app.command()
def dedup(
    folder: Annotated[
        Path | None,
        typer.Argument(help="Folder of images to check, sub-folders included.", show_default=False),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            "-w",
            show_default=False,
            help="Also take candidate pairs from deep features of these weights (a .pt file or a "
            "torchvision name). Pairs are verified on pixels either way; without it candidates come from "
            "pixels alone, which is faster and found every planted duplicate in benchmarks/dedup.py. "
            "An up-to-date index of FOLDER made with these weights lends its stored vectors.",
        ),
    ] = None,
    model: ModelOpt = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            show_default=False,
            help="Write the groups as JSON to this file; '-' prints them instead of the table.",
        ),
    ] = None,
    move_to: Annotated[
        Path | None,
        typer.Option(
            "--move-to",
            show_default=False,
            help="Move every non-keeper into this folder (sub-folders kept, taken names get -1, -2, …; "
            "nothing is deleted or overwritten) and write a log that --undo reverses.",
        ),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            help="Where --move-to writes its log; default DIR/lookalike-dedup-<time>.jsonl.",
            show_default=False,
        ),
    ] = None,
    undo: Annotated[
        Path | None,
        typer.Option(
            "--undo",
            show_default=False,
            help="Put every file that the move log LOG moved back where it was (no scan).",
        ),
    ] = None,
    strictness: Annotated[
        str,
        typer.Option(
            "--strictness",
            help="How alike two files must be: strict, normal or loose. 'strict': copies, re-encodes, "
            "resizes and mirror images (misses some crops). 'normal': also crops keeping ≥ 90% of the "
            "area; pages or screens whose text differs never group. 'loose': also heavier edits, but may "
            "group distinct photos on a plain sky. Measured in benchmarks/RESULTS.md.",
        ),
    ] = "normal",
    min_ncc: Annotated[
        float | None,
        typer.Option(
            help="Coarse check: least normalized cross-correlation of two 12×12 thumbnails "
            f"(default from --strictness; normal {STRICTNESS['normal'].min_ncc}).",
            show_default=False,
        ),
    ] = None,
    max_rmse: Annotated[
        float | None,
        typer.Option(
            help="Coarse check: largest RMS pixel difference (0–1 scale) of the thumbnails "
            f"(normal {STRICTNESS['normal'].max_rmse}).",
            show_default=False,
        ),
    ] = None,
    min_ssim: Annotated[
        float | None,
        typer.Option(
            help="Fine check: least SSIM of every tile of the aligned images at up to 256 px "
            f"(normal {STRICTNESS['normal'].min_ssim}).",
            show_default=False,
        ),
    ] = None,
    flips: Annotated[
        bool, typer.Option("--flips/--no-flips", help="Count mirror images as duplicates.")
    ] = True,
    crops: Annotated[
        bool, typer.Option("--crops/--no-crops", help="Count crops keeping ≥ 90% of the area as duplicates.")
    ] = True,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when any file could not be read.")
    ] = False,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Find near-duplicate images in FOLDER: exact copies, re-encodes, resizes, mirror images and crops.

    Candidates come from tiny thumbnails (NCC, RMSE); each is confirmed at up to 256 px where content
    differs (SSIM of every tile), so pages of other words, app screens with other text and moved objects
    never group. Each group keeps the file with the most pixels, then the largest file, then the oldest;
    every other member is a checked duplicate of that keeper. Nothing changes unless you pass --move-to,
    which moves the duplicates (never deletes) and writes a log that --undo LOG reverses. Unreadable
    files are skipped and listed.

    Example:

        lookalike dedup photos/

        lookalike dedup scans/ --strictness strict

        lookalike dedup photos/ --json groups.json --move-to photos-duplicates/

        lookalike dedup --undo photos-duplicates/lookalike-dedup-20250101-120000.jsonl
    """
    from lookalike.dedup import find_duplicates, move_duplicates, undo_moves

    if undo is not None:
        if move_to is not None:
            raise LookalikeError("--undo and --move-to cannot be combined; run them one at a time")
        report = undo_moves(undo)
        if json_out is not None and str(json_out) == "-":
            _print_json(report.to_dict())
            return
        console.print(
            f"restored {len(report.restored):,} file(s) from {_shown(undo)}"
            + (f"; {len(report.already_in_place):,} already in place" if report.already_in_place else ""),
            highlight=False,
        )
        return
    if folder is None:
        raise LookalikeError("pass a FOLDER to check (or --undo LOG to reverse a --move-to)")
    if not folder.exists():
        raise LookalikeError(f"{folder}: no such folder; pass a folder of images")
    if not folder.is_dir():
        raise LookalikeError(f"{folder}: is a file, not a folder; pass the folder of images to check")
    embedder = None
    if weights is not None:
        from lookalike.features import Embedder

        with err.status("loading model…", spinner="dots"):
            embedder = Embedder(
                weights,
                model=model,
                device=device,
                precision=precision,  # type: ignore[arg-type]  # checked by the library
            )
    targets: Path | list[Path] = folder
    vectors = None
    if embedder is not None:  # an up-to-date index made with these weights spares the embedding
        from lookalike.images import list_images
        from lookalike.index import Index, find_index

        with contextlib.suppress(LookalikeError), Index.open(find_index(folder)) as idx:
            targets = list_images(folder)  # listed once, for the index and for the search
            vectors = idx.current_vectors(targets, embedder)
            if vectors is not None:
                embedder = None
                err.print(f"feature vectors from {_shown(idx.location)}", highlight=False)
    labels = {"reading": "reading images", "embedding": "embedding", "verifying": "checking pairs"}
    with _StageProgress(labels) as progress:
        result = find_duplicates(
            targets,
            vectors=vectors,
            embedder=embedder,
            strictness=strictness,
            min_ncc=min_ncc,
            max_rmse=max_rmse,
            min_ssim=min_ssim,
            flips=flips,
            crops=crops,
            progress=progress,
        )
    to_stdout = json_out is not None and str(json_out) == "-"
    if json_out is not None and not to_stdout:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    log_path = move_duplicates(result, move_to, log=log) if move_to is not None and result.groups else None
    if to_stdout:
        data = result.to_dict()
        data["move_log"] = None if log_path is None else str(log_path)
        _print_json(data)
    else:
        if result.groups:
            _print_groups(result)
        freed = sum(m.bytes for g in result.groups for m in g.duplicates)
        console.print(
            f"{len(result.groups):,} group(s) · {result.duplicates:,} duplicate(s), {format_bytes(freed)} · "
            f"{result.images:,} image{'s' if result.images != 1 else ''} checked in {result.seconds:.1f} s"
            + (
                f" · {len(result.rejected):,} look-alike pair(s) kept apart by the fine check"
                if result.rejected
                else ""
            )
            + (f" · {len(result.failures):,} unreadable" if result.failures else ""),
            highlight=False,
            soft_wrap=True,
        )
        if json_out is not None:
            console.print(f"groups written to {_shown(json_out)}", highlight=False)
        if log_path is not None:
            console.print(
                f"moved {result.duplicates:,} file(s) to {_shown(move_to or Path())}; undo with: "
                f"lookalike dedup --undo {_shown(log_path)}",
                highlight=False,
                soft_wrap=True,
            )
        elif result.groups:
            console.print(
                "[dim]nothing was changed; --move-to DIR moves the duplicates (undo with --undo LOG)[/]",
                highlight=False,
            )
        if result.failures:
            console.print(f"skipped {len(result.failures):,}:", highlight=False)
            for _, reason in result.failures:
                console.print(f"  {reason}", highlight=False, soft_wrap=True)
    if strict and result.failures:
        err.print(
            f"[bold red]error:[/] {len(result.failures):,} file(s) could not be read (--strict)",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command("evaluate")
def evaluate_cmd(
    folder: Annotated[
        Path,
        typer.Argument(help="A labelled folder: one sub-folder of images per class.", show_default=False),
    ],
    weights: WeightsOpt = "DEFAULT",
    model: ModelOpt = None,
    size: SizeOpt = None,
    k: Annotated[
        int, typer.Option("-k", "--k", help="Neighbours per query (the k of P@k, mAP@k, kNN).")
    ] = 10,
    queries: Annotated[
        int,
        typer.Option(help="Images held out as queries: the same share of every class, fixed by --seed."),
    ] = 1000,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Gallery of only N of the other images, drawn evenly from the classes; default: all.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the query/gallery split.")] = 0,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", help="Only this metric (repeat for several): l1, mse, cosine, ncc; default: all."
        ),
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option(
            help="Also draw a few queries with their 5 nearest images by pixels and by features (cosine).",
            show_default=False,
        ),
    ] = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
    backend: BackendOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval quality on labelled images: pixels vs deep features, for L1, MSE, cosine and NCC.

    Held-out query images look for their k nearest gallery images; a neighbour counts when it has the
    query's class. Reports precision@k, mAP@k and kNN accuracy (majority vote of the k nearest). Pixels
    are the preprocessed tensors that feed the network, so both columns see the same input.

    Example:

        lookalike evaluate ../shared/datasets/cifar10/train --weights ../shared/models/resnet18-cifar10.pt \\
            --queries 1000 --limit 10000 --png retrieval.png
    """
    from lookalike.evaluate import draw_examples, evaluate
    from lookalike.features import Embedder
    from lookalike.metrics import METRICS

    with err.status("loading model…", spinner="dots"):
        embedder = Embedder(
            weights,
            model=model,
            size=size,
            device=device,
            precision=precision,  # type: ignore[arg-type]  # checked by the library
            backend=backend,  # type: ignore[arg-type]  # checked by the library
        )
    labels = {"embedding": "embedding (pixels + features)", "ranking": "ranking"}
    with _StageProgress(labels) as progress:
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
        shown = "cosine" if "cosine" in result.table else next(iter(result.table))
        draw_examples(result, png, metric=shown)
    if as_json:
        _print_json(result.to_dict())
        return
    table = Table(
        title=f"{_shown(Path(result.root))}: {len(result.query_paths):,} queries · "
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
    console.print(
        f"[dim]chance P@{result.k} {result.chance_p_at_k:.3f} · {result.model} features, "
        f"input 3×{result.input_size}×{result.input_size}, {result.precision}, "
        f"{_BACKENDS.get(result.backend, result.backend)} · embedding "
        f"{s['embedding']:.1f} s, ranking {s['ranking']:.1f} s · split seed {result.seed}[/]",
        highlight=False,
        soft_wrap=True,
    )
    if png is not None:
        console.print(f"examples drawn to {_shown(png)}", highlight=False)
    if result.failures:
        console.print(f"skipped {len(result.failures):,} unreadable:", highlight=False)
        for _, reason in result.failures:
            console.print(f"  {reason}", highlight=False, soft_wrap=True)


@app.command()
def serve(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="An indexed folder (or a folder inside one); default: the working folder.",
            show_default=False,
        ),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option("--index", "-i", show_default=False, help="The index folder, instead of FOLDER."),
    ] = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. 127.0.0.1 keeps the page to this machine; 0.0.0.0 shows your images "
            "to anyone who can reach it."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")
    ] = 8000,
    max_upload: Annotated[
        str, typer.Option("--max-upload", help="Largest image a visitor may upload, e.g. 20MB, 512K.")
    ] = "20MB",
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
) -> None:
    """Serve a local web page over an index: find look-alikes, compare two images, see duplicates.

    Drop or pick an image to see its nearest images with scores, click one to search from it; compare two
    images on pixels and features (L1, MSE, cosine, NCC); list near-duplicate groups with the file to keep;
    see what the index holds. The same features are a JSON API under /api (reference at /api/docs).
    Uploads stay in memory; images are served by id only, from inside the indexed folder.

    Example:

        lookalike index photos/ --weights ../shared/models/resnet18-cifar10.pt

        lookalike serve photos/ --open

        curl -F file=@cat.jpg 'http://127.0.0.1:8000/api/search?k=5'
    """
    from lookalike.web.server import missing_extra

    absent = missing_extra()
    if absent is not None:  # printed here: the error handler would read [web] as markup
        err.print(
            f"[bold red]error:[/] lookalike serve needs the web extra ({absent} is not installed); install "
            "it with: pip install 'lookalike\\[web]'",
            highlight=False,
        )
        raise typer.Exit(1)
    from lookalike.index import find_index
    from lookalike.units import parse_bytes
    from lookalike.web.app import create_app
    from lookalike.web.server import allowed_hosts_for, is_loopback, listen, run, url_for

    limit = parse_bytes(max_upload, where="--max-upload")
    location = index if index is not None else find_index(folder if folder is not None else Path())
    web_app = create_app(location, upload_limit=limit, allowed_hosts=allowed_hosts_for(host))
    sock = listen(host, port)
    images = web_app.state.collection.index.count
    console.print(
        f"serving {_shown(Path(location))} ({images:,} images) at {url_for(sock)} · Ctrl+C to stop",
        highlight=False,
        soft_wrap=True,
    )
    if not is_loopback(host):
        err.print(
            f"[yellow]warning:[/] listening on {host}: anyone who can reach this machine can see the indexed "
            "images",
            highlight=False,
        )
    sys.stdout.flush()
    run(web_app, sock, open_browser=open_browser)


def main() -> None:
    """Console-script entry point."""
    import signal

    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit (ulimit -f): a clear error, not a core dump
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    app()


if __name__ == "__main__":
    main()
