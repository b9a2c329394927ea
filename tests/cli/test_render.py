"""How the command line prints: help text that flows, numbers and paths, one line for any error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from lookalike.cli.render import flow, fmt, shown

Invoke = Callable[..., tuple[int, str]]


def test_flow_joins_prose_and_keeps_examples() -> None:
    doc = """First line
    still the first paragraph.

    A paragraph written over
    three lines of
    source.

    Example:

        lookalike index photos/                     # two spaces kept
        lookalike index photos/ \\
            --json
    """
    assert flow(doc) == (
        "First line still the first paragraph.\n\n"
        "A paragraph written over three lines of source.\n\n"
        "Example:\n\n"
        "    lookalike index photos/                     # two spaces kept\n"
        "    lookalike index photos/ \\\n"
        "        --json"
    )


def test_flow_of_nothing_is_empty() -> None:
    assert flow(None) == "" and flow("One line.") == "One line."


@pytest.mark.parametrize(
    ("value", "text"), [(None, "—"), (0.5, "0.5000"), (-0.25, "-0.2500"), (12345.678, "12,345.7")]
)
def test_fmt(value: float | None, text: str) -> None:
    assert fmt(value) == text


def test_shown_is_relative_below_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "a" / "b.png") == str(Path("a") / "b.png")
    assert shown(Path("/elsewhere/c.png")) == "/elsewhere/c.png"


def test_an_unexpected_error_is_one_line_asking_for_a_report(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lookalike.models

    def boom() -> list[str]:
        raise RuntimeError("boom [bold]not markup[/]")

    monkeypatch.setattr(lookalike.models, "list_models", boom)
    code, out = invoke("models")
    assert code == 1
    assert out == (
        "error: unexpected RuntimeError: boom [bold]not markup[/] — set LOOKALIKE_DEBUG=1 for the traceback "
        "and please report it\n"
    )


def test_interrupted_is_exit_130(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import lookalike.models

    def interrupted() -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(lookalike.models, "list_models", interrupted)
    code, out = invoke("models")
    assert (code, out) == (130, "interrupted\n")


def test_hints_name_the_running_commands_flags_or_the_command_that_fixes_it() -> None:
    """A hint's parameters become flags: the running command's own (``location`` is ``--index``), and
    where it lacks one, the ``lookalike index`` command line that has it."""
    import click

    from lookalike.cli import app
    from lookalike.cli.render import error_line
    from lookalike.errors import StoreError

    group = typer.main.get_command(app)

    def line(command: str, hint: str) -> str:
        ctx = click.Context(group)
        ctx.invoked_subcommand = command
        return error_line(StoreError("something is wrong", hint), ctx)

    assert line("index", "pass `rebuild=True`") == "something is wrong; pass --rebuild"
    assert line("search", "pass `rebuild=True`") == "something is wrong; pass lookalike index … --rebuild"
    assert line("search", "choose `location`") == "something is wrong; choose --index"
    assert line("search", "pass `nonsense=1`") == "something is wrong; pass `nonsense=1`"
