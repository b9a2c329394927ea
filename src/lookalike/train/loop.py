"""The training loop: :func:`train` and :func:`resume` run one process each (every ``torchrun`` worker
calls them); :func:`_set_up` sets the run up, :func:`_epochs` trains epoch by epoch, scores the validation
split after each epoch, writes the run folder (rank 0) and returns a :class:`TrainResult`."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import WeightsError
from lookalike.features import resolve_precision
from lookalike.models import load_state, load_weights, torchvision_info
from lookalike.train.build import _build_model, _feed, _optimizer, _warm_up
from lookalike.train.checkpoints import _run_dir, _save_epoch, _write_summary, read_train_state
from lookalike.train.config import PreparedData, TrainConfig, prepare_data
from lookalike.train.distributed import _barrier, _Dist, _setup_distributed, _tear_down, weights_digest
from lookalike.train.recipes import Recipe, _check_recipe, lr_factor
from lookalike.train.reporting import Reporter
from lookalike.train.scoring import confusion_matrix, predict
from lookalike.train.state import CHECKPOINT_NAME, STATE_NAME, RunState, TrainResult

if TYPE_CHECKING:
    import torch


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
    info = torchvision_info(weights, arch=recipe.arch)  # a torchvision name: metadata, no download yet
    if info is None:
        state, info = load_weights(weights, arch=recipe.arch)
        if state is None:
            return None
    if info.cifar_stem != recipe.cifar_stem:
        stem = "CIFAR (3×3)" if info.cifar_stem else "ImageNet (7×7)"
        other = "seed" if recipe.cifar_stem else "fast"
        raise WeightsError(
            f"weights {weights} have the {stem} stem but recipe {recipe.name} uses the other one",
            f"pass `recipe={other}` or weights with the matching stem",
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


def _run(
    config: TrainConfig,
    recipe: Recipe,
    *,
    data: PreparedData | None,
    reporter: Reporter | None,
    state: dict[str, Any] | None,
) -> TrainResult:
    dist = _setup_distributed(config.device)
    try:
        reporter = (reporter or Reporter()) if dist.main else Reporter()
        run = _set_up(config, recipe, dist, data=data, reporter=reporter, state=state)
        try:
            result = _epochs(run)
        finally:
            run.step_model = run.model  # DDP's reducer holds the process group: let it go before the group
        _barrier(dist)  # every rank is done before rank 0, which serves the group's store, tears it down
        return result
    finally:
        if dist.owned:
            _tear_down()


def _epochs(run: RunState) -> TrainResult:
    """The epochs of a run set up by :func:`_set_up` (those left, when resumed), then its result."""
    val_logits: torch.Tensor | None = None
    started = time.perf_counter() - sum(float(r.get("epoch_seconds", 0.0)) for r in run.rows)
    for epoch in range(run.start_epoch, run.recipe.epochs):
        epoch_start = time.perf_counter()
        row = _train_epoch(run, epoch, epoch_start)
        if run.dist.main and run.val_images is not None and run.val_labels is not None:
            val_logits = _validate(run, row)
        row["epoch_seconds"] = time.perf_counter() - epoch_start
        row["elapsed_seconds"] = time.perf_counter() - started
        run.rows.append(row)
        if run.run_dir is not None and run.dist.main:
            _save_epoch(run)
        run.reporter.epoch_end(row)
    return _finish(run, val_logits)


def _set_up(
    config: TrainConfig,
    recipe: Recipe,
    dist: _Dist,
    *,
    data: PreparedData | None,
    reporter: Reporter,
    state: dict[str, Any] | None,
) -> RunState:
    """Everything before the first epoch: precision, run folder, data, model, batches, optimizer, the
    resumed state, DDP and compilation; the reporter hears what the run will do."""
    import torch
    from torch import nn

    device = dist.device
    precision = training_precision(config.precision or recipe.precision, str(device))
    amp = None if precision == "float32" else (torch.bfloat16 if precision == "bfloat16" else torch.float16)
    run_dir = _run_dir(config, dist, resuming=state is not None) if config.save else None
    data = _data(config, dist, data, reporter, run_dir)

    torch.manual_seed(config.seed)
    model, info = _build_model(config, recipe, data)
    model.to(device)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    feed = _feed(config, recipe, dist, data)
    optimizer = _optimizer(model, recipe, feed.batch)
    total_steps = feed.steps * recipe.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, recipe))
    run = RunState(
        config=config,
        recipe=recipe,
        dist=dist,
        reporter=reporter,
        data=data,
        run_dir=run_dir,
        precision=precision,
        amp=amp,
        model=model,
        info=info,
        step_model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        criterion=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        feed=feed,
        val_images=data.val.images.to(device) if data.val is not None else None,
        val_labels=data.val.labels if data.val is not None else None,
        rows=[],
        start_epoch=0,
        compile_seconds=0.0,
        scaler=torch.amp.GradScaler(device.type, enabled=amp == torch.float16),
    )
    if state is not None:
        _restore(run, state)
    _wrap(run)
    _announce(run)
    return run


def _data(
    config: TrainConfig, dist: _Dist, data: PreparedData | None, reporter: Reporter, run_dir: Path | None
) -> PreparedData:
    """The prepared split (rank 0 decodes first and fills the cache; the others then read it); rank 0
    lists the skipped files in the run folder."""
    if data is None:
        if not dist.main:
            _barrier(dist)
        data = prepare_data(config, reporter=reporter)
        if dist.main:
            _barrier(dist)
    if run_dir is not None and dist.main and data.train.skipped:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "skipped.txt").write_text("".join(f"{p}\t{why}\n" for p, why in data.train.skipped))
    return data


def _restore(run: RunState, state: dict[str, Any]) -> None:
    """Continue from a ``last.pt``: weights, optimizer, schedule, the epochs' metrics."""
    load_state(run.model, state["model"], where=str(run.run_dir))
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.rows = [dict(r) for r in state["metrics"]]
    run.start_epoch = int(state["epoch"])
    run.reporter.message(f"resuming {run.run_dir} after epoch {run.start_epoch} of {run.recipe.epochs}")


def _wrap(run: RunState) -> None:
    """DistributedDataParallel for several processes, ``torch.compile`` on request (timed by one step)."""
    import torch

    device = run.device
    if run.dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        run.step_model = DistributedDataParallel(
            run.model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if run.config.compile:
        run.step_model = torch.compile(run.step_model)  # type: ignore[assignment]
        first = next(run.feed.epoch(run.start_epoch))
        run.compile_seconds = _warm_up(
            run.step_model, run.model, run.criterion, run.optimizer, first, device, run.amp
        )
        run.reporter.message(f"compiled in {run.compile_seconds:.1f} s")


def _announce(run: RunState) -> None:
    recipe, data, dist, feed = run.recipe, run.data, run.dist, run.feed
    stem = "CIFAR stem" if recipe.cifar_stem else "7×7 stem"
    val_text = f", {len(data.val):,} for validation" if data.val is not None else ", no validation"
    run.reporter.start(
        run.run_dir,
        f"recipe {recipe.name}: {recipe.arch} ({stem}) on {len(data.train):,} images"
        f"{val_text} · {run.device} {run.precision} · {recipe.epochs} "
        f"epoch{'s' if recipe.epochs != 1 else ''} × "
        f"{feed.steps} steps of {feed.batch}" + (f" × {dist.world} processes" if dist.world > 1 else ""),
    )


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


def _train_epoch(run: RunState, epoch: int, epoch_start: float) -> dict[str, Any]:
    """One pass over the training split (``epoch`` 0-based); its row of metrics, validation still empty."""
    import torch

    device, dist, feed, reporter = run.device, run.dist, run.feed, run.reporter
    reporter.epoch_start(epoch + 1, run.recipe.epochs, feed.steps)
    run.model.train()
    if feed.sampler is not None:
        feed.sampler.set_epoch(epoch)
    batch_iter: Iterator[Any] = feed.epoch(epoch)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    every = max(1, feed.steps // 50)
    timer = _Timer(device)
    for i, (x, y) in enumerate(batch_iter):
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with _autocast(run):
            out = run.step_model(x)
            loss = run.criterion(out, y)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()  # (float16: the loss scaled up, the step skipped on inf/nan)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        loss_sum += loss.detach().double() * len(y)
        correct += (out.detach().argmax(1) == y).sum()
        seen += len(y)
        if reporter.live and ((i + 1) % every == 0 or i + 1 == feed.steps):
            elapsed = max(time.perf_counter() - epoch_start, 1e-9)
            reporter.step(i + 1, float(loss_sum) / seen, int(correct) / seen, seen * dist.world / elapsed)
    train_seconds = timer.stop()
    totals = torch.stack(
        [loss_sum, correct.double(), torch.tensor(float(seen), device=device, dtype=torch.float64)]
    )
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.all_reduce(totals)
        for buffer in run.model.buffers():  # BatchNorm statistics: rank 0's, so replicas stay identical
            tdist.broadcast(buffer, 0)
    loss_total, correct_total, seen_total = (float(v) for v in totals.cpu())
    return {
        "epoch": epoch + 1,
        "epochs": run.recipe.epochs,
        "train_loss": loss_total / seen_total,
        "train_acc": correct_total / seen_total,
        "val_loss": None,
        "val_acc": None,
        "lr": run.optimizer.param_groups[0]["lr"],
        "train_seconds": train_seconds,
        "images_per_s": seen_total / max(train_seconds, 1e-9),
    }


def training_precision(precision: str, device: str) -> str:
    """The precision a training run computes in: as for inference (:func:`lookalike.features.
    resolve_precision`), except that ``auto`` on CUDA is bfloat16, not float16 — bf16 keeps float32's
    range, so small gradients need no loss scaling."""
    resolved = resolve_precision(precision, device)  # type: ignore[arg-type]
    return "bfloat16" if precision == "auto" and resolved == "float16" else resolved


def _autocast(run: RunState) -> contextlib.AbstractContextManager[Any]:
    import torch

    return torch.autocast(run.device.type, dtype=run.amp) if run.amp is not None else contextlib.nullcontext()


def _val_logits(run: RunState) -> torch.Tensor:
    assert run.val_images is not None
    return predict(
        run.model,
        run.val_images,
        mean=run.data.mean,
        std=run.data.std,
        device=run.device,
        amp=run.amp,
        channels_last=run.recipe.channels_last,
        tta=run.recipe.tta,
    )


def _validate(run: RunState, row: dict[str, Any]) -> torch.Tensor:
    """Score the validation split into ``row`` (val_loss, val_acc); the logits, for the confusion matrix."""
    from torch import nn

    assert run.val_labels is not None
    logits = _val_logits(run)
    row["val_loss"] = float(nn.functional.cross_entropy(logits, run.val_labels))
    row["val_acc"] = float((logits.argmax(1) == run.val_labels).float().mean())
    return logits


def _finish(run: RunState, val_logits: torch.Tensor | None) -> TrainResult:
    """After the last epoch: the replicas' weight digests, the confusion matrix, the result and (rank 0)
    the run folder's summary."""
    dist, rows, run_dir = run.dist, run.rows, run.run_dir
    digests = [weights_digest(run.model)]
    if dist.world > 1:
        import torch.distributed as tdist

        gathered: list[Any] = [None] * dist.world
        tdist.all_gather_object(gathered, digests[0])
        digests = [str(d) for d in gathered]
    confusion = None
    last = rows[-1] if rows else {}
    if dist.main and run.val_labels is not None and run.val_images is not None:
        if val_logits is None:  # a finished run resumed: evaluate once more for the confusion matrix
            val_logits = _val_logits(run)
        confusion = confusion_matrix(run.val_labels, val_logits.argmax(1), len(run.data.classes))
    train_seconds_total = sum(float(r["train_seconds"]) for r in rows)
    images_total = sum(float(r["images_per_s"]) * float(r["train_seconds"]) for r in rows)
    result = TrainResult(
        run_dir=run_dir,
        checkpoint=run_dir / CHECKPOINT_NAME if run_dir else None,
        info=run.info,
        epochs=rows,
        val_acc=last.get("val_acc"),
        val_loss=last.get("val_loss"),
        confusion=confusion,
        data_seconds=run.data.seconds,
        compile_seconds=run.compile_seconds,
        train_seconds=train_seconds_total,
        images_per_s=images_total / max(train_seconds_total, 1e-9),
        digests=digests,
        device=str(run.device),
        precision=run.precision,
        config=run.config,
        model=run.model,
    )
    if run_dir is not None and dist.main:
        _write_summary(run, result)
    return result
