"""The command line as a whole: its commands and their help, hints as flags, a reader that leaves early."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lookalike.cli import app

Invoke = Callable[..., tuple[int, str]]
WIDTH = 80


def commands() -> list[str]:
    import typer.main

    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_with_an_example(command: str, invoke: Invoke) -> None:
    code, out = invoke(command, "--help")
    assert code == 0 and "Example" in out, out


def test_no_arguments_shows_help(invoke: Invoke) -> None:
    _, out = invoke()
    assert "compare" in out and "summary" in out


def prose_paragraphs(help_text: str) -> list[list[str]]:
    """The description paragraphs of a rendered ``--help``: the lines between the usage line and the first
    box, split at blank lines, without the examples (indented deeper than the prose)."""
    lines = [line.rstrip() for line in help_text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.lstrip().startswith("╭")), len(lines))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start:end]:
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    found = [p for p in paragraphs if p]
    indent = min(len(p[0]) - len(p[0].lstrip()) for p in found)
    prose = []
    for p in found:
        if p[0].strip() == "Example:":
            break
        if len(p[0]) - len(p[0].lstrip()) == indent:
            prose.append(p)
    return prose


def early_breaks(help_text: str, width: int) -> list[str]:
    """Lines of prose that end although the next line's first word would have fitted on them."""
    broken = []
    for paragraph in prose_paragraphs(help_text):
        for line, following in itertools.pairwise(paragraph):
            if len(line) + 1 + len(following.split()[0]) < width:
                broken.append(f"{line!r} before {following.split()[0]!r}")
    return broken


@pytest.mark.parametrize("command", ["", *commands()])
def test_help_paragraphs_wrap_at_80_columns(command: str, invoke: Invoke) -> None:
    code, out = invoke(*([command] if command else []), "--help", env={"COLUMNS": str(WIDTH)})
    assert code == 0, out
    assert max(len(line) for line in out.splitlines()) <= WIDTH  # rendered at that width
    assert prose_paragraphs(out), out
    assert early_breaks(out, WIDTH) == []


def test_the_early_break_check_finds_a_hard_wrapped_paragraph() -> None:
    rendered = (
        " Usage: lookalike index [OPTIONS] {folder}\n\n Embed every image.\n\n"
        " The index lives in FOLDER/.lookalike (or --index DIR): SQLite rows, the\n"
        " vectors, and a FAISS search\n"
        " structure (exact below 50,000 images, IVF above).\n\n"
        " Example:\n\n     lookalike index photos/\n"
    )
    assert early_breaks(rendered, WIDTH) == ["' vectors, and a FAISS search' before 'structure'"]


def test_a_hint_names_the_commands_flags(pair: tuple[Path, Path], invoke: Invoke) -> None:
    code, out = invoke("compare", *pair, "--weights", "none", "--size", "4")
    assert code == 1
    assert out == "error: image size 4 is too small; use a --size of at least 8 pixels\n"


def run_with_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m lookalike ARGS`` writing into a pipe whose reader has already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "lookalike", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [("index", "--help"), ("models", "--json"), ("summary", "resnet18"), ()],
    ids=["help", "json", "table", "no-arguments"],
)
def test_a_closed_stdout_ends_quietly(args: tuple[str, ...]) -> None:
    done = run_with_closed_stdout(*args)
    assert done.stderr == ""
    assert done.returncode in (0, 141)


def test_version_prints_the_package_version(invoke: Invoke) -> None:
    from lookalike import __version__

    for flag in ("--version", "-V"):
        code, out = invoke(flag)
        assert code == 0 and out.strip() == f"lookalike {__version__}"
