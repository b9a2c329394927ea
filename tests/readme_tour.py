"""The README's tour as data: its ``text`` blocks split into commands (``$ …``) and what each printed, a
scratch folder laid out as the tour expects (``../shared`` beside it), and the comparison of a command's
output with its block, allowing only what the README says may move (timings, dates, progress bars)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from shared_data import SHARED

README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass(frozen=True)
class Step:
    """One ``$ command`` of a README block and the lines shown after it (up to the next command)."""

    line: int  # in README.md, 1-based
    command: str
    expected: tuple[str, ...]
    block: int = 0  # which text block of the README (0, 1, …)


def steps(readme: Path = README) -> list[Step]:
    """Every command of every ``text`` block, in order."""
    out: list[Step] = []
    lines = readme.read_text().splitlines()
    inside = False
    current: tuple[int, str] | None = None
    shown: list[str] = []
    block = -1

    def close() -> None:
        nonlocal current, shown
        if current is not None:
            out.append(Step(current[0], current[1], tuple(shown), block))
        current, shown = None, []

    for n, text in enumerate(lines, 1):
        if text.startswith("```"):
            if inside:
                close()
            inside = text.strip() == "```text"
            block += inside
            continue
        if not inside:
            continue
        if text.startswith("$ "):
            close()
            current = (n, text[2:])
        elif current is not None:
            shown.append(text)
    return out


# What may move between runs and machines, as the README says: timings and speeds, dates, progress bars.
_PROGRESS = re.compile(r"━+ +\d[\d,]*/\d[\d,]*")
_MOVING = [
    (re.compile(r"\d[\d,]*(\.\d+)? ?(s|ms|images/s|img/s)\b"), "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"), "<date>"),
    (re.compile(r"file:\S*?shared/models/"), "file:../shared/models/"),
    (re.compile(r"peak memory \d[\d.,]* ?(bytes|KB|MB|GB)"), "peak memory <memory>"),  # the process's, so far
]


def normalised(lines: list[str] | tuple[str, ...]) -> list[str]:
    """Lines as compared: progress bars and ``exporting the model`` notices (made once per cache) left
    out, timings, dates and peak memory replaced, trailing spaces and blank lines dropped."""
    out = []
    for line in lines:
        line = line.rstrip()
        if not line or _PROGRESS.search(line) or "exporting the model to ONNX once" in line:
            continue
        for pattern, replacement in _MOVING:
            line = pattern.sub(replacement, line)
        out.append(line)
    return out


#: The terminal width the README's blocks were printed at.
COLUMNS = 100


def run(step: Step, cwd: Path, timeout: float = 600) -> list[str]:
    """Run ``step`` in ``cwd`` as a user's shell would (``lookalike`` the installed command, a terminal
    :data:`COLUMNS` wide): what it printed, stdout and stderr interleaved, the folder's own path shown
    relative, and ``(exit code N)`` after a failure, as the README writes it."""
    env = {**os.environ, "COLUMNS": str(COLUMNS), "NO_COLOR": "1", "TERM": "dumb"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("LOOKALIKE_DEBUG", None)
    done = subprocess.run(
        ["bash", "-c", step.command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    lines = done.stdout.replace(f"{cwd}/", "").splitlines()
    return lines + ([f"(exit code {done.returncode})"] if done.returncode else [])


#: The tour steps the test runs, by the first words of their command: the lecture's comparisons and the
#: model tables, and a collection built, updated, inspected (info and inspect) and searched. Left out:
#: training and evaluation (minutes), the damage and disk-full demonstrations (they need root or a small
#: disk), ImageNet weights (a download where the network is open) and folders the README makes with other
#: scripts.
TOUR = (
    "lookalike compare samples/",
    "printf ",
    "lookalike summary ",
    "lookalike models",
    "lookalike samples photos/",
    "lookalike index photos/ --weights",
    "cp photos/cat/0003.jpg",
    "lookalike index photos/",
    "lookalike info photos/",
    "lookalike search photos/",
    "lookalike search samples/",
    "lookalike inspect photos/",
)
#: Commands run first, in the scratch folder, as the README's set-up step does.
SET_UP = ("lookalike samples samples",)


def tour(all_steps: list[Step] | None = None) -> list[Step]:
    """The README's steps the test runs (see :data:`TOUR`), in order; blocks that damage the index or fill
    a disk are left out whole."""
    every = all_steps if all_steps is not None else steps()
    damaging = {s.block for s in every if s.command.startswith(("dd ", "truncate ", "mount "))}
    return [
        s
        for s in every
        if s.block not in damaging
        and s.command.startswith(TOUR)
        and not any(word in s.command for word in ("IMAGENET1K_V1", "phone/"))
    ]


def write(readme: Path, outputs: dict[int, list[str]]) -> None:
    """Replace the lines shown after each command (by its README line) with ``outputs``."""
    lines = readme.read_text().splitlines()
    out: list[str] = []
    n = 0
    while n < len(lines):
        out.append(lines[n])
        if (n + 1) in outputs:
            out += outputs[n + 1]
            n += 1
            while n < len(lines) and not lines[n].startswith(("$ ", "```")):
                n += 1
            continue
        n += 1
    readme.write_text("\n".join(out) + "\n")


def words(command: str) -> list[str]:
    return shlex.split(command, comments=True)


def scratch_folder(tmp: Path) -> Path:
    """``tmp/work``, the folder the tour runs in, with ``tmp/shared`` beside it as the repository has
    ``../shared``: the weights copied (a file's path is shown as it resolves), the datasets linked. The set-up
    commands have run in it."""
    import shutil

    (tmp / "shared").mkdir()
    shutil.copytree(SHARED / "models", tmp / "shared" / "models")
    (tmp / "shared" / "datasets").symlink_to(SHARED / "datasets")
    work = tmp / "work"
    work.mkdir()
    for command in SET_UP:
        run(Step(0, command, ()), work)
    return work


if __name__ == "__main__":  # python tests/readme_tour.py --write: the README's tour blocks as they print now
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        work = scratch_folder(Path(tmp))
        outputs = {}
        for step in tour():
            got = [line.rstrip() for line in run(step, work) if not _PROGRESS.search(line)]
            if normalised(got) != normalised(step.expected):
                print(f"README.md:{step.line}: {step.command[:90]}", file=sys.stderr)
                outputs[step.line] = got
        if "--write" in sys.argv:
            write(README, outputs)
