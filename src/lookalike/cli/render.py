"""How the command line looks: its consoles, progress bars, tables, one-line errors and help text.

Nothing here decides anything about images or indexes; it only turns results into lines.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from lookalike.errors import LookalikeError, hint_for_cli

if TYPE_CHECKING:
    from lookalike.features import Embedder

console = Console()
err = Console(stderr=True)

# How the backends are named in tables and summary lines.
BACKENDS = {"onnx": "ONNX Runtime", "torch": "PyTorch"}


def debug() -> bool:
    """Whether ``LOOKALIKE_DEBUG`` asks for tracebacks instead of one-line errors."""
    return os.environ.get("LOOKALIKE_DEBUG", "") not in ("", "0")


# Library parameters whose command-line option has another name.
_OPTION_OF = {"location": "index"}
# The command whose options a hint may name when the running command lacks them (e.g. `rebuild=True`
# raised under `search`): the fix is then that command.
_FIXING_COMMAND = "index"


def error_line(exc: LookalikeError, ctx: Any) -> str:
    """The error's message and hint, the hint's parameter names written as flags: the running command's
    own, else as a ``lookalike index …`` command line when that command has the option."""
    if exc.hint is None:
        return str(exc)

    def flags_of(command: Any) -> dict[str, str]:
        found = {p.name: p.opts[0] for p in (command.params if command else []) if p.opts}
        found = {name: opt for name, opt in found.items() if opt.startswith("-")}
        found.update({lib: found[cli] for lib, cli in _OPTION_OF.items() if cli in found})
        return found

    name = ctx.invoked_subcommand
    running = flags_of(ctx.command.get_command(ctx, name) if name else None)
    if name != _FIXING_COMMAND:
        fixing = flags_of(ctx.command.get_command(ctx, _FIXING_COMMAND))
        for param, opt in fixing.items():
            running.setdefault(param, f"lookalike {_FIXING_COMMAND} … {opt}")
    return f"{exc.message}; {hint_for_cli(exc.hint, running)}"


def print_error(text: str) -> None:
    """``error: TEXT`` on stderr, TEXT printed as it is (no markup, no highlighting, no wrapping)."""
    err.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


class Group(TyperGroup):
    """Turns known errors into one line on stderr and exit code 1 (2 for usage errors, as click does)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LookalikeError as exc:
            if debug():
                raise
            print_error(error_line(exc, ctx))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            if debug():
                raise
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise  # the reader went away: main() leaves quietly, as cat does
        except Exception as exc:
            # exits, usage errors and aborts belong to click (vendored inside typer since 0.23)
            if debug() or type(exc).__module__.startswith(("click", "typer")):
                raise
            print_error(
                f"unexpected {type(exc).__name__}: {exc} — set LOOKALIKE_DEBUG=1 for the traceback and "
                "please report it"
            )
            raise typer.Exit(1) from None


def flow(doc: str | None) -> str:
    """A docstring as help text that wraps at any width: each prose paragraph becomes one line (rich wraps
    it to the terminal), while indented lines (the examples) stay as they are.

    >>> flow('''Short.
    ...
    ...     Two lines
    ...     of prose.
    ...
    ...     Example:
    ...
    ...         lookalike models
    ... ''')
    'Short.\\n\\nTwo lines of prose.\\n\\nExample:\\n\\n    lookalike models'
    """
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(
        p if any(line[:1].isspace() for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs
    )


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_json(data: Any, path: Path) -> None:
    """``data`` as indented JSON in the file ``path`` (its folder made if need be)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def fmt(value: float | None) -> str:
    """A score: four decimals, or thousands separated and one decimal from 1,000 up; ``—`` for none."""
    if value is None:
        return "—"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4f}"


def shown(path: Path) -> str:
    """``path`` relative to the working folder when it is below it, else as is."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def when(stamp: float | None) -> str:
    """A time stamp as local date, time and zone; ``—`` for none."""
    import datetime

    if not stamp:
        return "—"
    return datetime.datetime.fromtimestamp(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def print_line(text: str, *, wrap: bool = True) -> None:
    """One line of output on stdout, not highlighted; ``wrap=False`` leaves long lines to the terminal."""
    console.print(text, highlight=False, soft_wrap=not wrap)


def print_failures(title: str, reasons: list[str]) -> None:
    """``TITLE`` and one indented line per reason (the files that could not be read)."""
    console.print(title, highlight=False)
    for reason in reasons:
        console.print(f"  {reason}", highlight=False, soft_wrap=True)


def print_notes(lines: list[str] | tuple[str, ...]) -> None:
    """``note: LINE`` on stderr for each line, as written (file names and hints may hold [brackets]): the
    files a folder scan passed over (``Skipped.lines()``), what a comparison's scores do not say."""
    for line in lines:
        err.print(f"[yellow]note:[/] {escape(line)}", highlight=False, soft_wrap=True)


def print_rows(rows: list[tuple[str, str]]) -> None:
    """Name/value rows without borders, names bold."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, Text(value))  # as written: paths and hints may hold [brackets]
    console.print(table, highlight=False)


def model_status(text: str) -> Any:
    """A spinner on stderr while a model loads or works."""
    return err.status(text, spinner="dots")


def load_embedder(weights: str, **settings: Any) -> Embedder:
    """An :class:`~lookalike.features.Embedder` (``settings`` as it takes them), a spinner while it loads."""
    from lookalike.features import Embedder

    with model_status("loading model…"):
        return Embedder(weights, **settings)


class StageProgress:
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

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.bar.stop()


__all__ = [
    "BACKENDS",
    "Group",
    "StageProgress",
    "console",
    "err",
    "error_line",
    "flow",
    "fmt",
    "load_embedder",
    "model_status",
    "print_error",
    "print_failures",
    "print_json",
    "print_line",
    "print_rows",
    "shown",
    "when",
    "write_json",
]
