"""The ``lookalike`` command line: parse, call the library, print. No logic of its own.

Known errors (:class:`lookalike.errors.LookalikeError`) print one line and exit 1; ``LOOKALIKE_DEBUG=1``
shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from lookalike.errors import LookalikeError

console = Console()
err = Console(stderr=True)


def _debug() -> bool:
    return os.environ.get("LOOKALIKE_DEBUG", "") not in ("", "0")


class _Group(TyperGroup):
    """Turns known errors into one line on stderr and exit code 1 (2 for usage errors, as click does)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LookalikeError as exc:
            if _debug():
                raise
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]


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
    size: Annotated[
        int | None,
        typer.Option(help="Input size (crop) override, e.g. 224 or 32; default: the weights' own."),
    ] = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
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
        f"weights {result.weights}\n↑ higher is more alike · ↓ lower is more alike[/]",
        highlight=False,
    )


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


@app.command()
def samples(
    folder: Annotated[Path, typer.Argument(help="Where to write the sample images.")] = Path("samples"),
    as_json: JsonOpt = False,
) -> None:
    """Write scikit-image's sample photos and edited copies (flipped, shifted, recoloured) to FOLDER.

    Works offline; handy for trying every command. Needs scikit-image (pip install 'lookalike[samples]').

    Example:

        lookalike samples samples/ && lookalike compare samples/chelsea.png samples/chelsea-flipped.png
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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
