"""Training ResNets on labelled images: two recipes, one loop, checkpoints that load as ``--weights``.

Measured result: not yet on a GPU; ``benchmarks/train_cifar10.py`` measures both recipes (H100 targets:
≥ 92.0 % held-out accuracy within 20 s of training, ≥ 93.0 % within 60 s, ``fast`` ≥ 7× ``seed`` images/s)
and ``benchmarks/RESULTS.md`` holds every run, with its machine. On a 2-core CPU both recipes run
correctly and slowly (tens of images per second); speeds are only compared on a GPU.

Recipes (all hyperparameters in :class:`Recipe`, one commented block with units):

* ``seed`` — the lecture's demo, kept as the baseline: torchvision resnet18 as is (7×7 stem), ``fc`` →
  ``Linear(512, classes)``, ``ToTensor`` + ``Normalize`` per image on the CPU in a DataLoader, batch 512,
  shuffled, Adam at 1e-3, cross-entropy, no augmentation, float32.
* ``fast`` (default) — a ResNet-18 with the CIFAR stem (11.2 M parameters), the training split resident on
  the device as uint8, per-image random translate (reflect pad 4) and alternating flip in one batched gather
  on the device, bf16 autocast + channels_last (float32 on CPUs without AMX), SGD-Nesterov with a one-cycle
  (linear up, linear down to 0) schedule, label smoothing 0.2, no weight decay on BatchNorm and biases,
  zero-initialised residual branches, flip test-time augmentation; ``torch.compile`` on request.

:func:`train` runs a recipe and writes ``runs/<name>/``: ``model.pt`` (weights + :class:`ModelInfo` +
recipe, metrics, versions; loads with ``--weights``), ``last.pt`` (optimizer and schedule state for
``--resume``), ``metrics.csv``, ``metrics.json``, ``curves.png`` and ``confusion.png``. Under ``torchrun``
it trains with DistributedDataParallel; only rank 0 prints and writes.

>>> from lookalike.train import TrainConfig, get_recipe, train
>>> config = TrainConfig(data="../shared/datasets/cifar10/train", val_split=0.1)
>>> result = train(config, get_recipe("fast", epochs=20))  # doctest: +SKIP
>>> result.val_acc  # doctest: +SKIP
0.93
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import platform
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lookalike.data import (
    DeviceBatches,
    FlipMode,
    ImageSet,
    PerImageDataset,
    Progress,
    atomic_save,
    atomic_write,
    channel_stats,
    load_data,
    normalize,
    split_indices,
    subsample,
)
from lookalike.download import reason
from lookalike.errors import DataError, LookalikeError, WeightsError
from lookalike.models import ModelInfo

if TYPE_CHECKING:
    import torch
    from torch import nn

TRAIN_STATE_FORMAT = "lookalike-train-state"
TRAIN_STATE_VERSION = 1
CHECKPOINT_NAME = "model.pt"
STATE_NAME = "last.pt"


# ----------------------------------------------------------------------------------------------------------
# Recipes


@dataclass(frozen=True)
class Recipe:
    """A training recipe: the model and every hyperparameter, in one block. See :data:`SEED`, :data:`FAST`."""

    name: str
    # --- model --------------------------------------------------------------------------------------------
    arch: str = "resnet18"  # torchvision ResNet depth: resnet18/34/50/101/152
    cifar_stem: bool = True  # 3×3 stride-1 first conv and no max-pool: 32×32 stays 32×32 into layer1
    zero_init_residual: bool = False  # each residual branch's last BN starts at γ = 0 (block = identity)
    # --- data ---------------------------------------------------------------------------------------------
    loader: Literal["dataloader", "device"] = "device"  # per-image CPU transforms / uint8 batches on device
    crop_pad: int = 0  # pixels: random translate by up to ±crop_pad (crop of the reflect-padded image)
    flip: FlipMode = "none"  # horizontal flip: none, random (p = ½) or alternate (airbench)
    # --- optimisation -------------------------------------------------------------------------------------
    epochs: int = 20  # passes over the training split
    batch_size: int = 512  # images per optimizer step, all processes together
    optimizer: Literal["adam", "sgd"] = "sgd"
    lr: float = 0.4  # peak learning rate per step at lr_batch images per step (the loss is the batch mean)
    lr_batch: int | None = None  # linear scaling: step lr = lr × batch / lr_batch (None: lr as is)
    momentum: float = 0.9  # SGD momentum (Adam: β1 stays at its default 0.9)
    nesterov: bool = True  # SGD only
    weight_decay: float = 0.0  # L2 coefficient added to the gradient of conv and linear weights
    decay_norm_and_bias: bool = False  # also apply weight decay to BatchNorm γ/β and biases
    schedule: Literal["constant", "onecycle"] = "constant"  # onecycle: linear 0 → lr → 0 over all steps
    warmup: float = 0.0  # fraction of all steps spent rising to lr (onecycle only)
    label_smoothing: float = 0.0  # weight of the uniform target in the cross-entropy, in [0, 1)
    # --- arithmetic ---------------------------------------------------------------------------------------
    precision: str = "float32"  # auto: bf16 autocast on CUDA and AMX CPUs, float32 elsewhere
    channels_last: bool = False  # NHWC activations (faster convolutions on tensor cores and oneDNN)
    # --- evaluation ---------------------------------------------------------------------------------------
    tta: bool = False  # test-time augmentation: average the logits of each image and its mirror image

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The lecture's baseline, unchanged (on an H100: about 8,300 images/s and 68 % test accuracy after 5
#: epochs, with per-image CPU transforms).
SEED = Recipe(
    name="seed",
    cifar_stem=False,  # torchvision resnet18 as is: 7×7 stride-2 stem and max-pool (32×32 → 8×8 at layer1)
    loader="dataloader",  # ToTensor + Normalize per image on the CPU
    epochs=5,
    batch_size=512,
    optimizer="adam",
    lr=1e-3,  # Adam, constant
    schedule="constant",
    precision="float32",
)

#: The fast recipe. Every choice follows published fast-CIFAR work (Page's DAWNBench ResNet, airbench);
#: their effect on this data is measured by benchmarks/train_cifar10.py on a GPU, not here.
FAST = Recipe(
    name="fast",
    cifar_stem=True,  # 15× the arithmetic of the 7×7 stem at 32×32, and most of the accuracy
    zero_init_residual=True,  # Goyal et al. 2017: every block starts as the identity; stabler at high lr
    loader="device",  # no CPU work per step: the whole split lives on the device as uint8
    crop_pad=4,  # the standard CIFAR translate; reflect padding keeps borders natural (airbench)
    flip="alternate",  # airbench: each image is seen both ways every 2 epochs; helps most in short runs
    epochs=20,
    batch_size=512,
    optimizer="sgd",  # with Nesterov momentum 0.9
    lr=0.4,  # peak, per 512 images; Page's ResNet schedule (0.4 at batch 512, mean loss)
    lr_batch=512,  # other batch sizes scale the lr linearly (Goyal et al. 2017)
    weight_decay=5e-4,  # on conv/linear weights only (decay_norm_and_bias=False)
    schedule="onecycle",
    warmup=0.2,  # 20 % of steps up, 80 % down to 0
    label_smoothing=0.2,
    precision="auto",  # bf16 autocast on CUDA (and AMX CPUs), float32 otherwise
    channels_last=True,
    tta=True,  # flip TTA at evaluation: +0.3–0.5 % at no training cost
)

RECIPES: dict[str, Recipe] = {"seed": SEED, "fast": FAST}


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """A recipe by name (``seed`` or ``fast``) with some fields replaced; ``None`` overrides are ignored.

    >>> get_recipe("fast", epochs=40, lr=None).epochs
    40
    """
    try:
        base = RECIPES[name]
    except KeyError:
        raise LookalikeError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}") from None
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise LookalikeError(
            f"unknown recipe field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    recipe = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    _check_recipe(recipe)
    return recipe


def _check_recipe(r: Recipe) -> None:
    from lookalike.models import check_model_name

    try:
        check_model_name(r.arch)
    except WeightsError as exc:
        raise LookalikeError(str(exc)) from None
    if r.epochs < 1:
        raise LookalikeError(f"--epochs {r.epochs} must be at least 1")
    if r.batch_size < 1:
        raise LookalikeError(f"--batch-size {r.batch_size} must be at least 1")
    if not r.lr > 0:
        raise LookalikeError(f"--lr {r.lr} must be positive")
    if not 0 <= r.label_smoothing < 1:
        raise LookalikeError(f"label smoothing {r.label_smoothing} must be in [0, 1)")


def lr_factor(step: int, total: int, recipe: Recipe) -> float:
    """Learning-rate multiplier at optimizer ``step`` (0-based) of ``total``: 1 for ``constant``; for
    ``onecycle`` linear from 1/warmup_steps up to 1 at the last warm-up step, then linear down, reaching 0
    one step after the last."""
    if recipe.schedule == "constant":
        return 1.0
    warm = max(1, round(total * recipe.warmup))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / (total - warm + 1))


# ----------------------------------------------------------------------------------------------------------
# Run configuration and data


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a run that is not a hyperparameter: data, seeds, device, where results go."""

    data: str  # "cifar10", an ImageFolder tree, or a .zip of one
    val_split: float = 0.1  # fraction of each class held out for validation (0: train on everything)
    split_seed: int = 0  # seeds the split (and --limit): the same held-out images whatever --seed
    size: int = 32  # images are resized (shorter side) and centre-cropped to size×size
    limit: int | None = (
        None  # use only this many images (drawn evenly from the classes), e.g. for a smoke test
    )
    seed: int = 0  # model initialisation, shuffling and augmentation
    weights: str | None = None  # initial weights (a file or torchvision name); default: random
    device: str | None = None  # default: cuda (cuda:LOCAL_RANK under torchrun) if available, else cpu
    precision: str | None = None  # override the recipe's (auto, float32, bfloat16, float16)
    compile: bool = False  # torch.compile the training model (compile time is reported separately)
    workers: int | None = None  # decoding / DataLoader worker processes
    data_root: str | None = None  # where torchvision keeps CIFAR-10 (--data cifar10)
    cache: str | None = None  # decoded-image cache folder (default $LOOKALIKE_CACHE or ~/.cache/lookalike)
    runs_dir: str = "runs"
    name: str | None = None  # run folder name; default: a timestamp
    save: bool = True  # write the run folder (the benchmark turns it off)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PreparedData:
    """The split, normalisation statistics (from the training split only) and how long loading took."""

    train: ImageSet
    val: ImageSet | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    seconds: float

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.train.source,
            "key": self.train.key,
            "classes": list(self.classes),
            "train_images": len(self.train),
            "val_images": len(self.val) if self.val else 0,
            "size": self.train.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "skipped": len(self.train.skipped),
            "cached": self.train.cached,
            "load_seconds": round(self.seconds, 3),
        }


def prepare_data(config: TrainConfig, *, reporter: Reporter | None = None) -> PreparedData:
    """Load ``config.data``, apply ``limit``, split it and compute mean/std on the training split."""
    rep = reporter or Reporter()
    start = time.perf_counter()
    data = load_data(
        config.data,
        size=config.size,
        train=True,
        root=config.data_root,
        cache=config.cache,
        workers=config.workers,
        progress=rep.counter("decoding images"),
    )
    if data.cached:
        rep.message(f"{len(data):,} images from the decoded cache {data.cache_path}")
    if data.skipped:
        rep.message(f"skipped {len(data.skipped)} unreadable file(s):")
        for path, why in data.skipped[:10]:
            rep.message(f"  {path}: {why}")
        if len(data.skipped) > 10:
            rep.message(f"  … and {len(data.skipped) - 10} more (listed in the run folder's skipped.txt)")
    if config.limit is not None and config.limit < len(data):
        rep.message(f"using {config.limit:,} of the {len(data):,} images (--limit)")
    train_set, val_set = _select(data, config.val_split, config.split_seed, config.limit)
    mean, std = channel_stats(train_set.images)
    return PreparedData(train_set, val_set, mean, std, time.perf_counter() - start)


def _select(
    data: ImageSet, val_split: float, split_seed: int, limit: int | None
) -> tuple[ImageSet, ImageSet | None]:
    """(train, val) after ``limit`` and the fixed-seed split; one place, so evaluation can redo it."""
    if limit is not None:
        data = data.subset(subsample(data.labels, limit, seed=split_seed))
    train_idx, val_idx = split_indices(data.labels, val_split, seed=split_seed)
    return data.subset(train_idx), (data.subset(val_idx) if len(val_idx) else None)


# ----------------------------------------------------------------------------------------------------------
# Progress


class Reporter:
    """Receives progress from :func:`train` and :func:`evaluate_checkpoint`; this base class ignores it.

    ``live`` asks the loop for per-step numbers, which costs a device synchronisation every few steps.
    """

    live = False
    #: The run folder being written (set when training starts), e.g. for a "resume with" hint.
    run_dir: Path | None = None

    def start(self, run_dir: Path | None, description: str) -> None:
        """Training begins: where it writes (``None``: nowhere) and what it does, in one line."""
        self.run_dir = run_dir

    def message(self, text: str) -> None:
        """One line of information."""

    def counter(self, description: str) -> Progress | None:
        """A ``progress(done, total)`` callback for a counted task, or ``None``."""
        return None

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        """An epoch (1-based) of ``steps`` optimizer steps begins."""

    def step(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        """Running training loss, accuracy and speed after ``done`` steps of the epoch."""

    def epoch_end(self, row: Mapping[str, Any]) -> None:
        """The epoch's metrics (a row of metrics.csv), after its checkpoint was written."""


class RichReporter(Reporter):
    """A rich progress bar on stderr (loss, accuracy, images/s) and one summary line per epoch.

    Use it as a context manager: ``with RichReporter() as rep: train(config, recipe, reporter=rep)``.
    """

    live = True

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> RichReporter:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, run_dir: Path | None, description: str) -> None:
        super().start(run_dir, description)
        self.message(description + (f" → {run_dir}/" if run_dir is not None else ""))

    def message(self, text: str) -> None:
        self.bar.console.print(text, highlight=False, markup=False)

    def counter(self, description: str) -> Progress:
        task: list[Any] = []

        def update(done: int, total: int) -> None:
            if not task:
                task.append(self.bar.add_task(description, total=total, info=""))
            self.bar.update(task[0], completed=done, total=total)
            if done >= total:
                self.bar.remove_task(task[0])
                task.clear()

        return update

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self._task = self.bar.add_task(f"epoch {epoch}/{epochs}", total=steps, info="")

    def step(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        self.bar.update(
            self._task,
            completed=done,
            info=f"loss {loss:.3f} · acc {100 * acc:5.1f}% · {images_per_s:,.0f} img/s",
        )

    def epoch_end(self, row: Mapping[str, Any]) -> None:
        if self._task is not None:
            self.bar.remove_task(self._task)
            self._task = None
        self.message(format_epoch(row))


def format_epoch(row: Mapping[str, Any]) -> str:
    """One line per epoch: ``epoch  3/20  train loss 1.234 acc 55.2% │ val loss … │ 41,230 img/s 2.1 s``."""
    width = len(str(row["epochs"]))
    text = (
        f"epoch {row['epoch']:>{width}}/{row['epochs']}  train loss {row['train_loss']:.4f} "
        f"acc {100 * row['train_acc']:5.1f}%"
    )
    if row.get("val_acc") is not None:
        text += f"  │  val loss {row['val_loss']:.4f} acc {100 * row['val_acc']:5.1f}%"
    return text + f"  │  {row['images_per_s']:,.0f} img/s  {row['train_seconds']:.1f} s"


# ----------------------------------------------------------------------------------------------------------
# Results


@dataclass
class TrainResult:
    """What a run produced. ``model`` is the trained network (unwrapped, on the training device)."""

    run_dir: Path | None
    checkpoint: Path | None
    info: ModelInfo
    epochs: list[dict[str, Any]]
    val_acc: float | None
    val_loss: float | None
    confusion: list[list[int]] | None
    data_seconds: float
    compile_seconds: float
    train_seconds: float
    images_per_s: float
    digests: list[str]
    device: str
    precision: str
    config: TrainConfig
    model: nn.Module = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "epochs_done": len(self.epochs),
            "val_acc": self.val_acc,
            "val_loss": self.val_loss,
            "data_seconds": round(self.data_seconds, 3),
            "compile_seconds": round(self.compile_seconds, 3),
            "train_seconds": round(self.train_seconds, 3),
            "images_per_s": round(self.images_per_s, 1),
            "data": self.config.data,
            "device": self.device,
            "precision": self.precision,
            "classes": list(self.info.classes or ()),
            "weights_sha256": self.digests,
        }


# ----------------------------------------------------------------------------------------------------------
# Distributed


@dataclass(frozen=True)
class _Dist:
    rank: int
    world: int
    device: torch.device
    backend: str | None
    owned: bool  # this module initialised the process group (and tears it down)

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: str | None) -> _Dist:
    """Read torchrun's environment; initialise the process group (nccl on CUDA, gloo on CPU) if needed."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is not None and device.startswith("cuda") and not torch.cuda.is_available():
        raise LookalikeError(
            f"--device {device} was asked for but no CUDA device is visible; use --device cpu"
        )
    if world <= 1:
        return _Dist(
            0, 1, torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")), None, False
        )
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), dev, dist.get_backend(), owned)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer's bytes (by name): equal digests mean identical weights."""
    import torch

    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------
# Training


def train(
    config: TrainConfig, recipe: Recipe, *, data: PreparedData | None = None, reporter: Reporter | None = None
) -> TrainResult:
    """Train ``recipe`` on ``config.data`` and write the run folder (see the module docstring).

    ``data`` reuses an already prepared split (the benchmark loads once, trains many times). Under
    ``torchrun`` every process calls this; rank 0 alone reports and writes. Ctrl-C leaves the files of
    the last completed epoch intact: continue with :func:`resume`.
    """
    _check_recipe(recipe)
    if config.weights is not None:
        config = replace(config, weights=_check_weights(config.weights, recipe))
    return _run(config, recipe, data=data, reporter=reporter, state=None)


def _check_weights(weights: str, recipe: Recipe) -> str | None:
    """Fail before any work if the initial weights are unreadable or do not fit the recipe; ``None`` for
    the words that mean random weights."""
    from lookalike.models import load_weights, torchvision_info

    info = torchvision_info(weights, arch=recipe.arch)  # a torchvision name: metadata, no download yet
    if info is None:
        state, info = load_weights(weights, arch=recipe.arch)
        if state is None:
            return None
    if info.cifar_stem != recipe.cifar_stem:
        stem = "CIFAR (3×3)" if info.cifar_stem else "ImageNet (7×7)"
        other = "seed" if recipe.cifar_stem else "fast"
        raise WeightsError(
            f"--weights {weights} have the {stem} stem but recipe {recipe.name} uses the other "
            f"one; pass --recipe {other} or weights with the matching stem"
        )
    return weights


def resume(
    run: str | os.PathLike[str],
    *,
    device: str | None = None,
    workers: int | None = None,
    compile: bool | None = None,
    reporter: Reporter | None = None,
) -> TrainResult:
    """Continue the run in folder ``run`` (or its ``last.pt``) from its last completed epoch.

    The recipe, data, split and seeds are the run's own. Every random draw after initialisation comes
    from generators seeded by (seed, epoch), so on the same device the result equals an uninterrupted
    run bit for bit (on the CPU; on GPUs up to non-deterministic kernels).
    """
    path = Path(run)
    state_path = path / STATE_NAME if path.is_dir() else path
    state = read_train_state(state_path)
    config = TrainConfig(
        **{k: v for k, v in state["config"].items() if k in {f.name for f in fields(TrainConfig)}}
    )
    runs_dir = state_path.parent.parent
    config = replace(
        config,
        runs_dir=str(runs_dir),
        name=state_path.parent.name,
        save=True,
        device=device if device is not None else config.device,
        workers=workers if workers is not None else config.workers,
        compile=compile if compile is not None else config.compile,
    )
    recipe = Recipe(**{k: v for k, v in state["recipe"].items() if k in {f.name for f in fields(Recipe)}})
    return _run(config, recipe, data=None, reporter=reporter, state=state)


def read_train_state(path: Path) -> dict[str, Any]:
    """The training state in ``last.pt``; a missing, truncated or foreign file is one clear error."""
    import pickle

    import torch

    if not path.exists():
        raise WeightsError(
            f"{path} not found; --resume takes a run folder made by lookalike train "
            f"(runs/<name>) that holds {STATE_NAME}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsError(
            f"{path} is not a lookalike training state (it holds pickled objects); pass the "
            "folder of a run made by lookalike train"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise WeightsError(
            f"{path} is not readable ({reason(exc)}); it may be truncated: resume from an "
            "intact run folder or start again"
        ) from None
    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        raise WeightsError(
            f"{path} is not a lookalike training state; --resume takes a run folder made by lookalike train"
        )
    if int(state.get("version", 0)) > TRAIN_STATE_VERSION:
        raise WeightsError(f"{path} was written by a newer lookalike; upgrade lookalike to resume it")
    for key in ("epoch", "model", "optimizer", "scheduler", "recipe", "config", "metrics"):
        if key not in state:
            raise WeightsError(f"{path} lacks {key!r}: the training state is damaged; start the run again")
    return state


def _run(
    config: TrainConfig,
    recipe: Recipe,
    *,
    data: PreparedData | None,
    reporter: Reporter | None,
    state: dict[str, Any] | None,
) -> TrainResult:
    import torch

    dist = _setup_distributed(config.device)
    try:
        return _run_process(
            config,
            recipe,
            dist,
            data=data,
            reporter=(reporter or Reporter()) if dist.main else Reporter(),
            state=state,
        )
    finally:
        if dist.owned:
            import torch.distributed

            torch.distributed.destroy_process_group()
        del torch


def _run_process(
    config: TrainConfig,
    recipe: Recipe,
    dist: _Dist,
    *,
    data: PreparedData | None,
    reporter: Reporter,
    state: dict[str, Any] | None,
) -> TrainResult:
    import torch
    from torch import nn

    from lookalike.features import resolve_precision

    device = dist.device
    precision = resolve_precision(config.precision or recipe.precision, str(device))  # type: ignore[arg-type]
    amp = None if precision == "float32" else (torch.bfloat16 if precision == "bfloat16" else torch.float16)
    run_dir = _run_dir(config, dist, resuming=state is not None) if config.save else None

    # --- data (rank 0 decodes first and fills the cache; the others then read it) -------------------------
    if data is None:
        if not dist.main:
            _barrier(dist)
        data = prepare_data(config, reporter=reporter)
        if dist.main:
            _barrier(dist)
    if run_dir is not None and dist.main and data.train.skipped:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "skipped.txt").write_text("".join(f"{p}\t{why}\n" for p, why in data.train.skipped))

    # --- model ----------------------------------------------------------------------------------------
    torch.manual_seed(config.seed)
    model, info = _build_model(config, recipe, data)
    model.to(device)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    # --- batches --------------------------------------------------------------------------------------
    n_train = len(data.train)
    batch = min(recipe.batch_size, n_train)
    batches: DeviceBatches | None = None
    loader: Any = None
    sampler: Any = None
    if recipe.loader == "device":
        batch -= batch % dist.world
        if batch < dist.world:
            raise DataError(f"{n_train} training images are too few for {dist.world} processes")
        batches = DeviceBatches(
            data.train.images,
            data.train.labels,
            batch_size=batch,
            mean=data.mean,
            std=data.std,
            device=device,
            seed=config.seed,
            pad=recipe.crop_pad,
            flip=recipe.flip,
            channels_last=recipe.channels_last,
            rank=dist.rank,
            world=dist.world,
        )
        steps = len(batches)
    else:
        from torch.utils.data import DataLoader, DistributedSampler

        dataset: Any = PerImageDataset(data.train.images, data.train.labels, data.mean, data.std)
        sampler = DistributedSampler(
            dataset, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=config.seed
        )
        workers = (
            config.workers
            if config.workers is not None
            else (0 if device.type == "cpu" else min(8, os.cpu_count() or 1))
        )
        loader = DataLoader(
            dataset,
            batch_size=max(1, batch // dist.world),
            sampler=sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        steps = len(loader)
    val_images = data.val.images.to(device) if data.val is not None else None
    val_labels = data.val.labels if data.val is not None else None

    # --- optimisation ---------------------------------------------------------------------------------
    optimizer = _optimizer(model, recipe, batch)
    total_steps = steps * recipe.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, recipe))
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    rows: list[dict[str, Any]] = []
    start_epoch = 0
    if state is not None:
        from lookalike.models import load_state

        load_state(model, state["model"], where=str(run_dir))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rows = [dict(r) for r in state["metrics"]]
        start_epoch = int(state["epoch"])
        reporter.message(f"resuming {run_dir} after epoch {start_epoch} of {recipe.epochs}")

    step_model: nn.Module = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        step_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    compile_seconds = 0.0
    if config.compile:
        step_model = torch.compile(step_model)  # type: ignore[assignment]
        first = next(iter(batches.epoch(start_epoch))) if batches is not None else next(iter(loader))
        compile_seconds = _warm_up(step_model, model, criterion, optimizer, first, device, amp)
        reporter.message(f"compiled in {compile_seconds:.1f} s")

    stem = "CIFAR stem" if recipe.cifar_stem else "7×7 stem"
    val_text = f", {len(data.val):,} for validation" if data.val is not None else ", no validation"
    reporter.start(
        run_dir,
        f"recipe {recipe.name}: {recipe.arch} ({stem}) on {len(data.train):,} images"
        f"{val_text} · {device} {precision} · {recipe.epochs} epoch{'s' if recipe.epochs != 1 else ''} × "
        f"{steps} steps of {batch}" + (f" × {dist.world} processes" if dist.world > 1 else ""),
    )

    def autocast() -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()

    # --- epochs ---------------------------------------------------------------------------------------
    val_logits: torch.Tensor | None = None
    every = max(1, steps // 50)
    started = time.perf_counter() - sum(float(r.get("epoch_seconds", 0.0)) for r in rows)
    for epoch in range(start_epoch, recipe.epochs):
        epoch_start = time.perf_counter()
        reporter.epoch_start(epoch + 1, recipe.epochs, steps)
        model.train()
        if sampler is not None:
            sampler.set_epoch(epoch)
        batch_iter: Iterator[Any] = batches.epoch(epoch) if batches is not None else iter(loader)
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        timer = _Timer(device)
        for i, (x, y) in enumerate(batch_iter):
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with autocast():
                out = step_model(x)
                loss = criterion(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach().double() * len(y)
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(y)
            if reporter.live and ((i + 1) % every == 0 or i + 1 == steps):
                elapsed = max(time.perf_counter() - epoch_start, 1e-9)
                reporter.step(i + 1, float(loss_sum) / seen, int(correct) / seen, seen * dist.world / elapsed)
        train_seconds = timer.stop()
        totals = torch.stack(
            [loss_sum, correct.double(), torch.tensor(float(seen), device=device, dtype=torch.float64)]
        )
        if dist.world > 1:
            import torch.distributed as tdist

            tdist.all_reduce(totals)
            for buffer in model.buffers():  # BatchNorm statistics: rank 0's, so replicas stay identical
                tdist.broadcast(buffer, 0)
        loss_total, correct_total, seen_total = (float(v) for v in totals.cpu())
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "epochs": recipe.epochs,
            "train_loss": loss_total / seen_total,
            "train_acc": correct_total / seen_total,
            "val_loss": None,
            "val_acc": None,
            "lr": optimizer.param_groups[0]["lr"],
            "train_seconds": train_seconds,
            "images_per_s": seen_total / max(train_seconds, 1e-9),
        }
        if dist.main and val_images is not None and val_labels is not None:
            val_logits = predict(
                model,
                val_images,
                mean=data.mean,
                std=data.std,
                device=device,
                amp=amp,
                channels_last=recipe.channels_last,
                tta=recipe.tta,
            )
            row["val_loss"] = float(nn.functional.cross_entropy(val_logits, val_labels))
            row["val_acc"] = float((val_logits.argmax(1) == val_labels).float().mean())
        row["epoch_seconds"] = time.perf_counter() - epoch_start
        row["elapsed_seconds"] = time.perf_counter() - started
        rows.append(row)
        if run_dir is not None and dist.main:
            _save_epoch(
                run_dir,
                model,
                optimizer,
                scheduler,
                info,
                recipe,
                config,
                data,
                rows,
                precision,
                device,
                dist,
            )
        reporter.epoch_end(row)

    # --- the end --------------------------------------------------------------------------------------
    digests = [weights_digest(model)]
    if dist.world > 1:
        import torch.distributed as tdist

        gathered: list[Any] = [None] * dist.world
        tdist.all_gather_object(gathered, digests[0])
        digests = [str(d) for d in gathered]
    confusion = None
    last = rows[-1] if rows else {}
    if dist.main and val_labels is not None and val_images is not None:
        if val_logits is None:  # a finished run resumed: evaluate once more for the confusion matrix
            val_logits = predict(
                model,
                val_images,
                mean=data.mean,
                std=data.std,
                device=device,
                amp=amp,
                channels_last=recipe.channels_last,
                tta=recipe.tta,
            )
        confusion = confusion_matrix(val_labels, val_logits.argmax(1), len(data.classes))
    train_seconds_total = sum(float(r["train_seconds"]) for r in rows)
    images_total = sum(float(r["images_per_s"]) * float(r["train_seconds"]) for r in rows)
    result = TrainResult(
        run_dir=run_dir,
        checkpoint=run_dir / CHECKPOINT_NAME if run_dir else None,
        info=info,
        epochs=rows,
        val_acc=last.get("val_acc"),
        val_loss=last.get("val_loss"),
        confusion=confusion,
        data_seconds=data.seconds,
        compile_seconds=compile_seconds,
        train_seconds=train_seconds_total,
        images_per_s=images_total / max(train_seconds_total, 1e-9),
        digests=digests,
        device=str(device),
        precision=precision,
        config=config,
        model=model,
    )
    if run_dir is not None and dist.main:
        _write_summary(run_dir, result, recipe, config, data, dist)
    return result


def _barrier(dist: _Dist) -> None:
    if dist.world > 1:
        import torch.distributed

        torch.distributed.barrier()


def _run_dir(config: TrainConfig, dist: _Dist, *, resuming: bool) -> Path:
    """``runs_dir/name``; rank 0 picks the default name (a timestamp) and tells the others."""
    root = Path(config.runs_dir)
    name = config.name
    if name is None:
        name = time.strftime("%Y%m%d-%H%M%S")
        if dist.main:
            base, n = name, 2
            while (root / name).exists():
                name, n = f"{base}-{n}", n + 1
        if dist.world > 1:
            import torch.distributed

            box: list[Any] = [name]
            torch.distributed.broadcast_object_list(box, src=0)
            name = str(box[0])
    elif not resuming and ((root / name / CHECKPOINT_NAME).exists() or (root / name / STATE_NAME).exists()):
        raise LookalikeError(
            f"run folder {root / name} already holds a run; pass another --name, or "
            f"continue it with --resume {root / name}"
        )
    if not name or Path(name).name != name:
        raise LookalikeError(f"run name {name!r} must be a plain folder name (no slashes)")
    return root / name


def _build_model(config: TrainConfig, recipe: Recipe, data: PreparedData) -> tuple[nn.Module, ModelInfo]:
    """The recipe's ResNet with a ``len(classes)``-way head, and the metadata its checkpoint will carry."""
    from torch import nn

    from lookalike.models import create_model, model_info

    classes = len(data.classes)
    if config.weights is not None:
        model = create_model(recipe.arch, num_classes=classes, weights=config.weights)  # checked by train()
    else:
        model = create_model(recipe.arch, num_classes=classes, cifar_stem=recipe.cifar_stem)
        if recipe.zero_init_residual:
            for m in model.modules():
                last_bn = getattr(m, "bn3", None) or getattr(m, "bn2", None)
                if m.__class__.__name__ in ("BasicBlock", "Bottleneck") and isinstance(
                    last_bn, nn.BatchNorm2d
                ):
                    nn.init.zeros_(last_bn.weight)
    size = data.train.size
    info = replace(
        model_info(model),
        num_classes=classes,
        classes=data.classes,
        mean=data.mean,
        std=data.std,
        crop_size=size,
        resize_size=size,
        interpolation="bilinear",
        source="lookalike train",
        fingerprint="",
    )
    return model, info


def _optimizer(model: nn.Module, recipe: Recipe, batch: int) -> torch.optim.Optimizer:
    """Adam or SGD-Nesterov at the recipe's lr for ``batch`` images per step; weight decay on conv/linear
    weights (and on the rest if the recipe says so)."""
    import torch

    decay = [p for p in model.parameters() if p.ndim > 1 or recipe.decay_norm_and_bias]
    rest = [p for p in model.parameters() if not (p.ndim > 1 or recipe.decay_norm_and_bias)]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    lr = recipe.lr * batch / recipe.lr_batch if recipe.lr_batch else recipe.lr
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


class _Timer:
    """Seconds of device work between construction and :meth:`stop`: CUDA events on CUDA, else wall clock."""

    def __init__(self, device: torch.device) -> None:
        import torch

        self.cuda = device.type == "cuda"
        if self.cuda:
            self.begin = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            self.end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            self.begin.record()
        self.t0 = time.perf_counter()

    def stop(self) -> float:
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            return float(self.begin.elapsed_time(self.end)) / 1000.0
        return time.perf_counter() - self.t0


def _warm_up(
    step_model: nn.Module,
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    first: tuple[torch.Tensor, torch.Tensor],
    device: torch.device,
    amp: Any,
) -> float:
    """Compile by running one forward/backward pass; the weights and BN statistics are put back."""
    import torch

    start = time.perf_counter()
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x, y = first[0].to(device), first[1].to(device)
    ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with ctx:
        loss = criterion(step_model(x), y)
    loss.backward()
    optimizer.zero_grad(set_to_none=True)
    model.load_state_dict(saved)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------------------------------------
# Evaluation


def predict(
    model: nn.Module,
    images: torch.Tensor,
    *,
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
    device: torch.device | str,
    amp: Any = None,
    channels_last: bool = True,
    tta: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Logits (float32, CPU) of a classifier for uint8 N×3×H×W ``images``, normalised with ``mean``/``std``.

    ``tta`` averages the logits of each image and its mirror image. The model is left in eval mode.
    """
    import torch

    dev = torch.device(device)
    batch_size = batch_size or (1024 if dev.type == "cuda" else 256)
    model.eval()
    outs = []
    ctx = torch.autocast(dev.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        for start in range(0, len(images), batch_size):
            x = normalize(images[start : start + batch_size].to(dev), mean, std, channels_last=channels_last)
            logits = model(x).float()
            if tta:
                logits = (logits + model(x.flip(-1)).float()) / 2
            outs.append(logits.cpu())
            if progress:
                progress(min(start + batch_size, len(images)), len(images))
    return torch.cat(outs) if outs else torch.empty(0, 0)


def confusion_matrix(targets: torch.Tensor, predictions: torch.Tensor, classes: int) -> list[list[int]]:
    """K×K counts: row = true class, column = predicted class.

    >>> import torch
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2)
    [[1, 0], [1, 1]]
    """
    import torch

    flat = targets.to(torch.int64).cpu() * classes + predictions.to(torch.int64).cpu()
    counts = torch.bincount(flat, minlength=classes * classes).reshape(classes, classes)
    return [[int(v) for v in row] for row in counts.tolist()]


def per_class(confusion: list[list[int]], classes: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Images, correct predictions and accuracy per true class (classes without images are left out)."""
    out = []
    for i, name in enumerate(classes):
        n = sum(confusion[i])
        if n:
            out.append(
                {"class": name, "images": n, "correct": confusion[i][i], "accuracy": confusion[i][i] / n}
            )
    return out


@dataclass
class Evaluation:
    """Accuracy of a classifier checkpoint on labelled images, per class and as a confusion matrix."""

    checkpoint: str
    data: str
    split: str
    images: int
    accuracy: float
    loss: float
    classes: tuple[str, ...]
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    tta: bool
    precision: str
    device: str
    skipped: list[tuple[str, str]]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["skipped"] = [list(s) for s in self.skipped]
        return d


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    split: Literal["all", "train", "val"] = "all",
    limit: int | None = None,
    tta: bool | None = None,
    device: str | None = None,
    precision: str = "auto",
    batch_size: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    reporter: Reporter | None = None,
) -> Evaluation:
    """Evaluate a classifier checkpoint (a ``model.pt``, a run folder, or any ResNet state dict with ``fc``).

    ``data`` is an ImageFolder tree, a zip of one, or ``cifar10`` (its test split for ``split="all"``).
    Folder class names are matched to the checkpoint's classes by name. ``split="val"``/``"train"`` redo
    the run's own fixed-seed split (and ``--limit``) on the same data, so the held-out images of a
    ``lookalike train`` run can be scored again. ``tta`` defaults to the recipe's. Images are preprocessed
    as the checkpoint's metadata says (size, mean, std).
    """
    import torch
    from torch import nn

    from lookalike.features import default_device, resolve_precision
    from lookalike.models import create_model, load_weights

    rep = reporter or Reporter()
    path = Path(checkpoint)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    _, info = load_weights(path)
    if info.num_classes < 1:
        raise WeightsError(
            f"{path} has no classifier (fc) layer; evaluate-model needs a model trained to "
            "classify, e.g. runs/<name>/model.pt"
        )
    dev = torch.device(device or default_device())
    prec = resolve_precision(precision, str(dev))  # type: ignore[arg-type]
    amp = None if prec == "float32" else (torch.bfloat16 if prec == "bfloat16" else torch.float16)
    cifar = os.fspath(data).strip().lower() == "cifar10"
    loaded = load_data(
        data,
        size=info.crop_size,
        resize=info.resize_size,
        train=not (cifar and split == "all"),
        root=data_root,
        cache=cache,
        workers=workers,
        progress=rep.counter("decoding images"),
    )
    if split != "all":
        run = info.extra.get("config")
        if not isinstance(run, dict):
            raise LookalikeError(f"{path} does not record a training split; use --split all")
        if info.extra.get("data", {}).get("key") not in (None, loaded.key):
            raise LookalikeError(
                f"--split {split} needs the data {path.name} was trained on "
                f"({info.extra['data'].get('source')}); pass that as --data or use --split all"
            )
        train_set, val_set = _select(
            loaded, float(run["val_split"]), int(run["split_seed"]), run.get("limit")
        )
        chosen = train_set if split == "train" else val_set
        if chosen is None:
            raise LookalikeError(f"{path} was trained without a validation split; use --split all or train")
        loaded_sel = chosen
    else:
        loaded_sel = loaded
    if limit is not None:
        loaded_sel = loaded_sel.subset(subsample(loaded_sel.labels, limit, seed=0))
    names = tuple(info.classes) if info.classes else None
    if names is None:
        if len(loaded_sel.classes) != info.num_classes:
            raise LookalikeError(
                f"{path} has {info.num_classes} outputs but no class names, and the data has "
                f"{len(loaded_sel.classes)} classes; pass a checkpoint made by lookalike train"
            )
        names = loaded_sel.classes
    index = {name: i for i, name in enumerate(names)}
    unknown = [c for c in loaded_sel.classes if c not in index]
    if unknown:
        raise DataError(
            f"the data has classes the model does not know: {', '.join(unknown[:5])}; the model "
            f"knows: {', '.join(names)}"
        )
    mapping = torch.tensor([index[c] for c in loaded_sel.classes], dtype=torch.int64)
    targets = mapping[loaded_sel.labels]
    model = create_model(None, num_classes=info.num_classes, weights=path).to(dev)
    saved = info.extra.get("recipe")
    recipe: dict[str, Any] = saved if isinstance(saved, dict) else {}
    # the recipe's memory format reproduces its validation numbers exactly; NHWC is faster elsewhere
    channels_last = bool(recipe.get("channels_last", True))
    if channels_last:
        model.to(memory_format=torch.channels_last)
    use_tta = tta if tta is not None else bool(recipe.get("tta"))
    logits = predict(
        model,
        loaded_sel.images,
        mean=info.mean,
        std=info.std,
        device=dev,
        amp=amp,
        channels_last=channels_last,
        tta=use_tta,
        batch_size=batch_size,
        progress=rep.counter("evaluating"),
    )
    matrix = confusion_matrix(targets, logits.argmax(1), len(names))
    return Evaluation(
        checkpoint=str(path),
        data=loaded.source,
        split=split,
        images=len(targets),
        accuracy=float((logits.argmax(1) == targets).float().mean()) if len(targets) else 0.0,
        loss=float(nn.functional.cross_entropy(logits, targets)) if len(targets) else 0.0,
        classes=names,
        per_class=per_class(matrix, names),
        confusion=matrix,
        tta=use_tta,
        precision=prec,
        device=str(dev),
        skipped=list(loaded.skipped),
    )


# ----------------------------------------------------------------------------------------------------------
# The run folder


def versions(device: torch.device) -> dict[str, str | None]:
    """Library and hardware versions recorded with every run."""
    import torch
    import torchvision

    from lookalike import __version__

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "lookalike": __version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
        "cuda": str(torch.version.cuda) if torch.version.cuda else None,
        "gpu": gpu,
        "cpu": platform.processor() or platform.machine(),
    }


def _save_epoch(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    info: ModelInfo,
    recipe: Recipe,
    config: TrainConfig,
    data: PreparedData,
    rows: list[dict[str, Any]],
    precision: str,
    device: torch.device,
    dist: _Dist,
) -> None:
    """After each epoch: last.pt (resume state), model.pt (weights + metadata), metrics files, curves.png.

    Each file is written beside its target and renamed over it, so a killed run keeps the previous epoch.
    """
    from lookalike.models import save_checkpoint
    from lookalike.report import plot_curves

    epoch = int(rows[-1]["epoch"])
    atomic_save(
        {
            "format": TRAIN_STATE_FORMAT,
            "version": TRAIN_STATE_VERSION,
            "epoch": epoch,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "recipe": recipe.to_dict(),
            "config": config.to_dict(),
            "metrics": rows,
        },
        run_dir / STATE_NAME,
    )
    save_checkpoint(
        run_dir / CHECKPOINT_NAME,
        model,
        info,
        recipe=recipe.to_dict(),
        config=config.to_dict(),
        data=data.describe(),
        metrics=rows,
        epoch=epoch,
        seed=config.seed,
        precision=precision,
        world_size=dist.world,
        versions=versions(device),
    )
    _write_metrics(run_dir, rows, _run_summary(run_dir, recipe, config, data, precision, device, dist))
    note = (
        f" (training loss includes label smoothing {recipe.label_smoothing:g})"
        if recipe.label_smoothing
        else ""
    )
    plot_curves(rows, run_dir / "curves.png", title=f"{run_dir.name}: recipe {recipe.name}{note}")


def _write_metrics(run_dir: Path, rows: list[dict[str, Any]], summary: Mapping[str, Any]) -> None:
    """metrics.csv (one row per epoch) and metrics.json (the run's settings, data, versions and rows)."""
    columns = [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "train_seconds",
        "images_per_s",
        "epoch_seconds",
        "elapsed_seconds",
    ]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _round(row[k])) for k in columns})
    atomic_write(run_dir / "metrics.csv", lambda f: f.write(text.getvalue().encode()))
    doc = {**summary, "epochs": rows}
    atomic_write(run_dir / "metrics.json", lambda f: f.write(json.dumps(doc, indent=2).encode()))


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def _run_summary(
    run_dir: Path,
    recipe: Recipe,
    config: TrainConfig,
    data: PreparedData,
    precision: str,
    device: torch.device,
    dist: _Dist,
) -> dict[str, Any]:
    return {
        "run": run_dir.name,
        "recipe": recipe.to_dict(),
        "config": config.to_dict(),
        "data": data.describe(),
        "device": str(device),
        "precision": precision,
        "world_size": dist.world,
        "versions": versions(device),
    }


def _write_summary(
    run_dir: Path, result: TrainResult, recipe: Recipe, config: TrainConfig, data: PreparedData, dist: _Dist
) -> None:
    """At the end of a run: metrics.json gains the result, per-class accuracy, the confusion matrix and the
    replicas' weight digests; confusion.png is drawn."""
    import torch

    from lookalike.report import plot_confusion

    classes = list(data.classes)
    summary = _run_summary(run_dir, recipe, config, data, result.precision, torch.device(result.device), dist)
    summary.update(
        {
            "result": result.to_dict(),
            "per_class": per_class(result.confusion, classes) if result.confusion else None,
            "confusion": result.confusion,
            "distributed": {
                "world_size": dist.world,
                "backend": dist.backend,
                "weights_sha256": result.digests,
                "replicas_identical": len(set(result.digests)) == 1,
            },
        }
    )
    _write_metrics(run_dir, result.epochs, summary)
    if result.confusion:
        plot_confusion(
            result.confusion, classes, run_dir / "confusion.png", title=f"{run_dir.name}, validation"
        )
