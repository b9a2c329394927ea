"""Progress of a training or evaluation run: :class:`Reporter` (silent), :class:`RichReporter` (a rich
progress bar and one line per epoch) and :func:`format_epoch`, that line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lookalike.data import Progress


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
