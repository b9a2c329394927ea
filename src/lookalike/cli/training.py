"""Training and scoring classifiers: ``train`` and ``evaluate-model``."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lookalike.cli.options import (
    DeviceOpt,
    JsonOpt,
    Runtime,
    WorkersOpt,
    data_option,
    grouped,
    quiet_option,
    weights_option,
)
from lookalike.cli.render import console, err, print_json, print_line
from lookalike.errors import LookalikeError

if TYPE_CHECKING:
    from lookalike.train import Recipe, TrainConfig, TrainResult

# train's options (each used once; the shared ones are in options.py)
DataOpt = Annotated[
    str | None,
    data_option(
        "cifar10 (torchvision; downloads when online), an ImageFolder tree DIR/<class>/image.jpg such as "
        "cifar10/train, or a .zip of one."
    ),
]
RecipeOpt = Annotated[
    str,
    typer.Option(
        help="fast (CIFAR-stem ResNet-18, on-device augmentation, SGD one-cycle, bf16 on GPUs) or seed "
        "(the lecture's baseline: 7×7 stem, Adam 1e-3, no augmentation, float32)."
    ),
]
TrainModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="resnet18/34/50/101/152; default: the recipe's (resnet18)."),
]
EpochsOpt = Annotated[
    int | None, quiet_option(help="Passes over the training split; default: the recipe's (fast 20, seed 5).")
]
TrainBatchOpt = Annotated[
    int | None, quiet_option(help="Images per optimizer step, all processes together; default 512.")
]
LrOpt = Annotated[
    float | None,
    quiet_option(
        help="Peak learning rate; default: the recipe's (fast 0.4 per 512 images, scaled linearly with "
        "--batch-size; seed 1e-3)."
    ),
]
ValSplitOpt = Annotated[
    float,
    typer.Option(
        help="Fraction of each class held out for validation (a fixed split); 0 trains on everything."
    ),
]
TrainLimitOpt = Annotated[
    int | None, quiet_option(help="Use only N images, drawn evenly from the classes (quick trials).")
]
TrainSizeOpt = Annotated[
    int, typer.Option(help="Image size: the shorter side is resized, then centre-cropped to SIZE×SIZE.")
]
SeedOpt = Annotated[
    int,
    typer.Option(
        help="Seed of initialisation, shuffling and augmentation (the validation split stays the same)."
    ),
]
StartWeightsOpt = Annotated[
    str | None,
    weights_option("Start from these weights (a .pt file or a torchvision name) instead of random ones."),
]
TrainPrecisionOpt = Annotated[
    str | None,
    quiet_option(
        help="auto, float32, bfloat16 or float16; default: the recipe's (fast: auto = bf16 on CUDA and on "
        "CPUs that compute it in hardware — AMX or AVX-512 BF16 —, else float32; seed: float32)."
    ),
]
CompileOpt = Annotated[
    bool,
    typer.Option(
        "--compile", help="torch.compile the model: faster steps on GPUs, compile time reported apart."
    ),
]
TrainWorkersOpt = Annotated[
    int | None,
    quiet_option(help="Worker processes for decoding images and for the seed recipe's DataLoader."),
]
RunsDirOpt = Annotated[Path, typer.Option(help="Folder that holds the run folders.")]
NameOpt = Annotated[str | None, quiet_option(help="Run folder name under --runs-dir; default: a timestamp.")]
ResumeOpt = Annotated[
    Path | None,
    quiet_option(
        help="Continue the run in this folder (e.g. runs/NAME) from its last completed epoch, with its "
        "own settings."
    ),
]
TrainDataRootOpt = Annotated[
    Path | None,
    quiet_option(help="Where torchvision keeps CIFAR-10 (--data cifar10); default: the cache folder."),
]


@dataclass(frozen=True)
class RecipeChoice:
    """The recipe and the hyperparameters that override its own."""

    recipe: RecipeOpt = "fast"
    model: TrainModelOpt = None
    epochs: EpochsOpt = None
    batch_size: TrainBatchOpt = None
    lr: LrOpt = None

    def chosen(self) -> Recipe:
        from lookalike.train import get_recipe

        return get_recipe(
            self.recipe, arch=self.model, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr
        )


@dataclass(frozen=True)
class RunSettings:
    """A new run's settings other than the recipe's: its data, model, device and where it is written."""

    val_split: ValSplitOpt = 0.1
    limit: TrainLimitOpt = None
    size: TrainSizeOpt = 32
    seed: SeedOpt = 0
    weights: StartWeightsOpt = None
    device: DeviceOpt = None
    precision: TrainPrecisionOpt = None
    compile_model: CompileOpt = False
    workers: TrainWorkersOpt = None
    runs_dir: RunsDirOpt = Path("runs")
    name: NameOpt = None

    def config(self, data: str, data_root: Path | None) -> TrainConfig:
        """The run's TrainConfig: these settings (as it names them) with ``data`` and ``data_root``."""
        from lookalike.train import TrainConfig

        settings = asdict(self) | {"compile": self.compile_model, "runs_dir": str(self.runs_dir)}
        del settings["compile_model"]
        return TrainConfig(data=data, data_root=str(data_root) if data_root else None, **settings)


# Options that --resume accepts (everything else comes from the run being continued).
_RESUME_OPTIONS = frozenset({"ctx", "resume", "device", "workers", "compile_model", "as_json"})


@grouped
def train(
    ctx: typer.Context,
    data: DataOpt = None,
    recipe: RecipeChoice = RecipeChoice(),
    run: RunSettings = RunSettings(),
    resume: ResumeOpt = None,
    data_root: TrainDataRootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a ResNet classifier on CIFAR-10 or any labelled image folder; the result works as --weights.

    Writes RUNS_DIR/NAME/: model.pt (weights, classes, mean/std, recipe, per-epoch metrics, versions),
    last.pt (for --resume), metrics.csv, metrics.json, curves.png and confusion.png. A folder is decoded
    once into a cache ($LOOKALIKE_CACHE, default ~/.cache/lookalike), so later runs start in seconds.
    Ctrl-C keeps the last completed epoch: continue with --resume. Several GPUs: torchrun --nproc_per_node N
    -m lookalike train … (only rank 0 prints and writes).

    Example:

        lookalike train --data cifar10/train --val-split 0.1 --epochs 20

        lookalike train --data cifar10/train --recipe seed --limit 2000 --epochs 1

        lookalike train --resume runs/20250101-120000
    """
    from lookalike.train import RichReporter
    from lookalike.train import resume as resume_run
    from lookalike.train import train as run_train

    _check_train_options(ctx, data, resume)
    main_process = os.environ.get("RANK", "0") == "0"
    reporter = RichReporter(err) if main_process else None
    try:
        with reporter if reporter is not None else contextlib.nullcontext():
            if resume is not None:
                result = resume_run(
                    resume,
                    device=run.device,
                    workers=run.workers,
                    compile=run.compile_model or None,
                    reporter=reporter,
                )
            else:
                assert data is not None
                chosen = recipe.chosen()
                result = run_train(run.config(data, data_root), chosen, reporter=reporter)
    except KeyboardInterrupt:
        _interrupted(reporter.run_dir if main_process and reporter is not None else None)
        raise
    if main_process:
        _print_trained(result, as_json=as_json)


def _check_train_options(ctx: typer.Context, data: str | None, resume: Path | None) -> None:
    """``--resume`` takes its settings from the run; without it, ``--data`` is needed."""
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
            "pass --data cifar10, --data DIR (an ImageFolder tree such as cifar10/train), or --resume RUN"
        )


def _interrupted(run_dir: Path | None) -> None:
    """Ctrl-C during training: when an epoch is saved, say how to continue and exit 130."""
    if run_dir is not None and (run_dir / "last.pt").exists():
        err.print(
            f"[yellow]interrupted[/]; the last completed epoch is saved: continue with "
            f"lookalike train --resume {run_dir}",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _print_trained(result: TrainResult, *, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    acc = "—" if result.val_acc is None else f"{100 * result.val_acc:.2f}%"
    epochs_done = f"{len(result.epochs)} epoch" + ("s" if len(result.epochs) != 1 else "")
    print_line(
        f"validation accuracy {acc} after {epochs_done} · "
        f"{result.train_seconds:.1f} s training at {result.images_per_s:,.0f} img/s · data "
        f"{result.data_seconds:.1f} s · {result.device} {result.precision}"
    )
    if result.checkpoint is not None:
        print_line(
            f"saved {result.checkpoint} (use it as --weights); score it again with: lookalike "
            f"evaluate-model {result.run_dir} --data {result.config.data} --split val"
        )


# evaluate-model's options
CheckpointArg = Annotated[
    Path,
    typer.Argument(
        help="A model.pt from lookalike train, its run folder, or a ResNet state dict with a classifier.",
        show_default=False,
    ),
]
ScoreDataOpt = Annotated[
    str, data_option("An ImageFolder tree DIR/<class>/image.jpg, a .zip of one, or cifar10 (its test split).")
]
SplitOpt = Annotated[
    str,
    typer.Option(
        help="all: every image of --data; val or train: the held-out (or training) images of the run "
        "that made CHECKPOINT, split again exactly as in training."
    ),
]
ScoreLimitOpt = Annotated[
    int | None, quiet_option(help="Score only N images, drawn evenly from the classes.")
]
TtaOpt = Annotated[
    bool | None,
    quiet_option(
        "--tta/--no-tta", help="Average each image with its mirror image; default: as the recipe trained."
    ),
]
ConfusionOpt = Annotated[Path | None, quiet_option(help="Also draw the confusion matrix to this PNG file.")]
ScoreBatchOpt = Annotated[
    int | None, quiet_option(help="Images per batch; default 1024 on CUDA, 256 on CPU.")
]
ScoreDataRootOpt = Annotated[
    Path | None, quiet_option(help="Where torchvision keeps CIFAR-10 (--data cifar10).")
]


@dataclass(frozen=True)
class Scoring(Runtime):
    """What runs the classifier and how: as evaluate_checkpoint takes them."""

    batch_size: ScoreBatchOpt = None
    workers: WorkersOpt = None


@grouped
def evaluate_model(
    checkpoint: CheckpointArg,
    data: ScoreDataOpt,
    split: SplitOpt = "all",
    limit: ScoreLimitOpt = None,
    tta: TtaOpt = None,
    confusion: ConfusionOpt = None,
    scoring: Scoring = Scoring(),
    data_root: ScoreDataRootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a classifier checkpoint on labelled images: accuracy, per-class accuracy, confusion matrix.

    Class folders are matched to the checkpoint's classes by name; images are preprocessed as its metadata
    says (size, mean, std).

    Example:

        lookalike evaluate-model runs/NAME --data cifar10/train --split val

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
            data_root=data_root,
            reporter=reporter,
            **asdict(scoring),
        )
    if confusion is not None:
        plot_confusion(result.confusion, result.classes, confusion, title=Path(result.checkpoint).parent.name)
    if as_json:
        print_json(result.to_dict())
        return
    _print_scores(result)
    print_line(
        f"accuracy {100 * result.accuracy:.2f}% on {result.images:,} images · loss "
        f"{result.loss:.4f} · TTA {'on' if result.tta else 'off'} · {result.device} "
        f"{result.precision}" + (f" · confusion matrix in {confusion}" if confusion else "")
    )


def _print_scores(result: Any) -> None:
    """evaluate-model's tables: accuracy per class, then the confusion matrix."""
    if result.skipped:
        err.print(
            f"skipped {len(result.skipped)} unreadable file(s), e.g. {result.skipped[0][0]}: "
            f"{result.skipped[0][1]}",
            highlight=False,
        )
    print_line(f"{result.checkpoint} on {result.data} ({result.split})")
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
