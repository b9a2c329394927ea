"""Moving duplicates aside and undoing it, file for file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dedup_support import duplicates_tree, sha, snapshot
from lookalike.dedup import (
    find_duplicates,
    move_duplicates,
    plan_moves,
    read_move_log,
    undo_moves,
)
from lookalike.errors import LookalikeError


def test_move_and_undo_restore_every_file_exactly(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    before = snapshot(photos)
    result = find_duplicates(photos)
    assert result.duplicates == 3
    dest = tmp_path / "dups"
    (dest / "x").mkdir(parents=True)
    (dest / "x" / "dup.png").write_bytes(b"someone else's file")  # a taken name: never overwritten
    log = move_duplicates(result, dest)
    moved = {m.source.relative_to(photos.absolute()).as_posix(): m.target for m in read_move_log(log)}
    assert moved["x/dup.png"] == (dest / "x" / "dup-1.png").absolute()
    assert moved["y/dup.png"] == (dest / "y" / "dup.png").absolute()
    assert (dest / "x" / "dup.png").read_bytes() == b"someone else's file"
    after = snapshot(photos)
    assert set(after) == set(before) - set(moved)  # only the non-keepers left
    for rel, target in moved.items():
        assert (sha(target), target.stat().st_mtime_ns) == before[rel]
    report = undo_moves(log)
    assert len(report.restored) == 3 and not report.already_in_place
    assert snapshot(photos) == before  # same names, bytes and mtimes
    assert (dest / "x" / "dup.png").read_bytes() == b"someone else's file"
    again = undo_moves(log)  # a second undo changes nothing
    assert not again.restored and len(again.already_in_place) == 3


def test_planned_names_never_collide(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    result = find_duplicates(photos)
    # with root x/, y/dup.png is outside it and keeps only its name, which x/dup.png takes first
    moves = plan_moves(result, tmp_path / "dups", root=photos / "x")
    targets = [m.target.name for m in moves]
    assert len(set(moves)) == len(moves) and sorted(targets) == ["dup-1.png", "dup.png", "three small.png"]
    assert not (tmp_path / "dups").exists()  # planning touches nothing


def test_undo_refuses_to_overwrite_and_moves_nothing(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    log = move_duplicates(find_duplicates(photos), tmp_path / "dups")
    moves = read_move_log(log)
    moves[0].source.write_bytes(b"new file in the old place")
    with pytest.raises(LookalikeError, match="exists again"):
        undo_moves(log)
    assert all(m.target.exists() for m in moves)  # all-or-nothing: nothing went back
    moves[0].source.unlink()
    moves[1].target.unlink()
    with pytest.raises(LookalikeError, match="missing"):
        undo_moves(log)
    with pytest.raises(LookalikeError, match="already exists"):
        move_duplicates(find_duplicates(photos), tmp_path / "dups", log=log)


def test_undo_after_an_interrupted_move(tmp_path: Path) -> None:
    """The log names each file before it moves: an entry whose file never moved is left alone."""
    photos = duplicates_tree(tmp_path)
    before = snapshot(photos)
    log = move_duplicates(find_duplicates(photos), tmp_path / "dups")
    last = read_move_log(log)[-1]
    shutil.move(last.target, last.source)  # as if the run died after logging it, before moving it
    report = undo_moves(log)
    assert len(report.restored) == 2 and report.already_in_place == [last]
    assert snapshot(photos) == before


def test_not_a_move_log(tmp_path: Path) -> None:
    bad = tmp_path / "log.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(LookalikeError, match="not a lookalike dedup move log"):
        undo_moves(bad)
    with pytest.raises(LookalikeError, match="no such move log"):
        undo_moves(tmp_path / "missing.jsonl")


def test_move_log_lines_are_json(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    log = move_duplicates(find_duplicates(photos), tmp_path / "dups")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0]["format"] == "lookalike-dedup-moves" and lines[0]["files"] == 3
    assert all({"source", "target"} <= set(line) for line in lines[1:]) and len(lines) == 4
