"""The ``lookalike`` command line: parse, call the library, print. No logic of its own.

Known errors (:class:`lookalike.errors.LookalikeError`) print one line and exit 1; ``LOOKALIKE_DEBUG=1``
shows the traceback instead. A reader that stops early (``lookalike … | head``) ends the command quietly.

The commands live one group a module (:mod:`~lookalike.cli.images`: compare, samples;
:mod:`~lookalike.cli.models`: summary, models, export-model; :mod:`~lookalike.cli.training`,
:mod:`~lookalike.cli.collection`, :mod:`~lookalike.cli.transfer` (Parquet export and import),
:mod:`~lookalike.cli.dedup`, :mod:`~lookalike.cli.inspection`, :mod:`~lookalike.cli.evaluation`,
:mod:`~lookalike.cli.serve`); their shared options are in :mod:`~lookalike.cli.options` and everything they
print goes through :mod:`~lookalike.cli.render`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from lookalike.cli import collection, dedup, evaluation, images, inspection, models, serve, training, transfer
from lookalike.cli.render import Group, flow

__all__ = ["app", "main"]

app = typer.Typer(
    name="lookalike",
    cls=Group,
    help="How alike are these images? Pixel and deep ResNet similarity for two images, a model, and a "
    "whole collection.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from lookalike import __version__

        typer.echo(f"lookalike {__version__}")
        raise typer.Exit()


VersionOpt = Annotated[
    bool,
    typer.Option("--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True),
]


@app.callback()
def _options(version: VersionOpt = False) -> None:
    """How alike are these images? Pixel and deep ResNet similarity for two images, a model, and a whole
    collection."""


def _command(function: Callable[..., Any], name: str | None = None) -> None:
    """Register ``function`` as a command; its docstring becomes help whose paragraphs wrap at any width."""
    app.command(name, help=flow(function.__doc__))(function)


# In the order `lookalike --help` lists them.
_command(images.compare)
_command(models.summary)
_command(models.list_models_cmd, "models")
_command(models.export_model, "export-model")
_command(images.samples)
_command(training.train)
_command(training.evaluate_model, "evaluate-model")
_command(collection.index_cmd, "index")
_command(collection.search)
_command(collection.info)
_command(transfer.export_cmd, "export")
_command(transfer.import_cmd, "import")
_command(dedup.dedup)
_command(inspection.inspect_cmd, "inspect")
_command(evaluation.evaluate_cmd, "evaluate")
_command(serve.serve)


def _reader_gone() -> int:
    """stdout's reader closed the pipe: point stdout at /dev/null so that the interpreter's last flush
    fails silently, and give the exit status a shell reports for SIGPIPE (128 + 13)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def _stdout_file() -> tuple[int, int] | None:
    """Which file descriptor 1 is (device, inode), to notice when something points it elsewhere."""
    try:
        st = os.fstat(1)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _reader_left(stdout: Any, file: tuple[int, int] | None) -> bool:
    """Whether the command ended because stdout's reader closed the pipe: click then swaps ``sys.stdout``
    for a quiet wrapper, rich points descriptor 1 at /dev/null, or output still held cannot be written."""
    if sys.stdout is not stdout or _stdout_file() != file:
        return True
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    return False


def main() -> None:
    """Console-script entry point."""
    import signal

    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit (ulimit -f): a clear error, not a core dump
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    stdout, file = sys.stdout, _stdout_file()
    try:
        app()
    except BrokenPipeError:  # `lookalike … | head`: the reader has what it wanted; quiet, as cat is
        sys.exit(_reader_gone())
    except SystemExit:
        if _reader_left(stdout, file):
            sys.stdout = stdout
            sys.exit(_reader_gone())
        raise


if __name__ == "__main__":
    main()
