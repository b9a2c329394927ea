"""Moving the duplicates away, and back: nothing is deleted, every move is logged before it happens."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lookalike.dedup.results import DedupResult
from lookalike.errors import LookalikeError

MOVE_LOG_FORMAT = "lookalike-dedup-moves"
MOVE_LOG_VERSION = 1


@dataclass(frozen=True)
class Move:
    """One file to move (or moved) from ``source`` to ``target``."""

    source: Path
    target: Path

    def to_dict(self) -> dict[str, str]:
        return {"source": str(self.source), "target": str(self.target)}


@dataclass
class UndoReport:
    """What :func:`undo_moves` did: files put back, and files that were already in place."""

    log: Path
    restored: list[Move]
    already_in_place: list[Move]

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": str(self.log),
            "restored": [m.to_dict() for m in self.restored],
            "already_in_place": [m.to_dict() for m in self.already_in_place],
        }


def free_name(target: Path, taken: set[Path]) -> Path:
    """``target``, or ``stem-1.ext``, ``stem-2.ext``, … : the first name that no file has and no other
    planned move takes."""
    candidate, n = target, 0
    while candidate in taken or os.path.lexists(candidate):
        n += 1
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
    return candidate


def plan_moves(
    result: DedupResult, dest: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> list[Move]:
    """Where :func:`move_duplicates` would put each non-keeper: ``dest`` + its path relative to ``root``
    (default: the folder that holds all the groups' files), renamed ``name-1.jpg``, ``name-2.jpg``, … when
    that name is taken. Keepers never move; nothing is touched.

    >>> [(m.source.name, m.target) for m in plan_moves(result, "dups")]  # doctest: +SKIP
    [('beach-copy.jpg', PosixPath('/home/me/dups/beach-copy.jpg'))]
    """
    sources = [m.path.absolute() for g in result.groups for m in g.duplicates]
    if not sources:
        return []
    top = Path(dest).absolute()
    if top.exists() and not top.is_dir():
        raise LookalikeError(
            f"--move-to {dest}: is a file, not a folder; pass a folder (it is created if missing)"
        )
    if root is None:
        base = Path(os.path.commonpath([str(p.parent) for p in sources]))
    else:
        base = Path(root).absolute()
    taken: set[Path] = set()
    moves = []
    for src in sources:
        try:
            rel = src.relative_to(base)
        except ValueError:
            rel = Path(src.name)
        target = free_name(top / rel, taken)
        taken.add(target)
        moves.append(Move(src, target))
    return moves


def _move_file(source: Path, target: Path) -> None:
    """Move one file, never over an existing one (a same-disk move is a rename: bytes and mtime stay)."""
    if os.path.lexists(target):
        raise LookalikeError(f"{target} already exists; lookalike never overwrites files")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(os.fspath(source), os.fspath(target))


def _default_log(dest: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return free_name(dest / f"lookalike-dedup-{stamp}.jsonl", set())


def move_duplicates(
    result: DedupResult,
    dest: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    log: str | os.PathLike[str] | None = None,
) -> Path:
    """Move every non-keeper into ``dest`` (as :func:`plan_moves` says) and return the log of the moves.

    Nothing is deleted or overwritten. The log (JSON lines: a header, then one line per file, written
    before the file moves) defaults to ``dest/lookalike-dedup-<time>.jsonl``; :func:`undo_moves` reverses
    it, also after an interrupted run.

    >>> log = move_duplicates(result, "dups")  # doctest: +SKIP
    >>> undo_moves(log).restored  # doctest: +SKIP
    """
    return run_moves(plan_moves(result, dest, root=root), dest, log=log)


def run_moves(
    moves: Sequence[Move],
    dest: str | os.PathLike[str],
    *,
    log: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Make the ``moves`` (as :func:`plan_moves` gives them) and return their log, as
    :func:`move_duplicates` does; ``progress(done, total)`` is called after each file."""
    missing = [m.source for m in moves if not os.path.lexists(m.source)]
    if missing:
        raise LookalikeError(
            f"{missing[0]} is gone since the scan ({len(missing)} file(s) in all); run dedup again"
        )
    top = Path(dest).absolute()
    top.mkdir(parents=True, exist_ok=True)
    log_path = Path(log).absolute() if log is not None else _default_log(top)
    if os.path.lexists(log_path):
        raise LookalikeError(f"{log_path} already exists; pass another log file name")
    header = {
        "format": MOVE_LOG_FORMAT,
        "version": MOVE_LOG_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dest": str(top),
        "files": len(moves),
    }
    done = 0
    with log_path.open("x", encoding="utf-8") as fp:
        fp.write(json.dumps(header, ensure_ascii=False) + "\n")
        for m in moves:
            fp.write(json.dumps(m.to_dict(), ensure_ascii=False) + "\n")
            fp.flush()
            os.fsync(fp.fileno())  # the log knows of a move before it happens
            try:
                _move_file(m.source, m.target)
            except (OSError, LookalikeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise LookalikeError(
                    f"cannot move {m.source} to {m.target} ({reason}); {done} file(s) moved so far, "
                    f"put them back with: lookalike dedup --undo {log_path}"
                ) from None
            done += 1
            if progress is not None:
                progress(done, len(moves))
    return log_path


def read_move_log(log: str | os.PathLike[str]) -> list[Move]:
    """The moves recorded in a log written by :func:`move_duplicates`, in the order they were made."""
    path = Path(log)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LookalikeError(f"{log}: no such move log; pass the .jsonl file that --move-to wrote") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LookalikeError(f"{log}: cannot read the move log ({exc})") from None
    try:
        header = json.loads(lines[0]) if lines else {}
        if header.get("format") != MOVE_LOG_FORMAT:
            raise ValueError
        moves = [
            Move(Path(d["source"]), Path(d["target"])) for d in map(json.loads, lines[1:] if lines else [])
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LookalikeError(
            f"{log}: not a lookalike dedup move log; pass the .jsonl file that --move-to wrote"
        ) from None
    if header.get("version", 0) > MOVE_LOG_VERSION:
        raise LookalikeError(
            f"{log}: written by a newer lookalike (log version {header['version']}); upgrade"
        )
    return moves


def undo_moves(log: str | os.PathLike[str]) -> UndoReport:
    """Put every file that a :func:`move_duplicates` log moved back where it was.

    All-or-nothing checks come first: if any original location is occupied again, or a moved file can be
    found in neither place, nothing moves and the error names it. Files already back in place (an undo run
    twice, or a move the interrupted run never made) are left alone.
    """
    moves = read_move_log(log)
    to_restore: list[Move] = []
    in_place: list[Move] = []
    for m in moves:
        at_source, at_target = os.path.lexists(m.source), os.path.lexists(m.target)
        if at_source and at_target:
            raise LookalikeError(
                f"cannot undo: {m.source} exists again and {m.target} is still there; move one of them "
                "away and run the undo again (nothing was moved)"
            )
        if not at_source and not at_target:
            raise LookalikeError(
                f"cannot undo: {m.target} (moved from {m.source}) is missing; put it back and run the "
                "undo again (nothing was moved)"
            )
        (in_place if at_source else to_restore).append(m)
    restored = []
    for m in reversed(to_restore):
        _move_file(m.target, m.source)
        restored.append(m)
    restored.reverse()
    return UndoReport(Path(log), restored, in_place)
