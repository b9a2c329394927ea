"""The ``lookalike dedup`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dedup_support import duplicates_tree, pattern, snapshot
from lookalike.cli import app

runner = CliRunner()

# ----------------------------------------------------------------------------------------------------------
# The command line


def invoke(*args: Any) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_lists_groups_and_changes_nothing(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    before = snapshot(photos)
    code, out = invoke("dedup", photos)
    assert code == 0, out
    assert "3 group(s) · 3 duplicate(s)" in out and "keep" in out and "resized" in out
    assert "nothing was changed" in out
    assert snapshot(photos) == before


def test_cli_json_move_and_undo(tmp_path: Path) -> None:
    photos = duplicates_tree(tmp_path)
    before = snapshot(photos)
    result = runner.invoke(app, ["dedup", str(photos), "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["groups"]) == 3 and data["duplicates"] == 3 and data["move_log"] is None
    assert all(g["members"][0]["keeper"] and g["members"][0]["path"] == g["keeper"] for g in data["groups"])
    code, out = invoke("dedup", photos, "--json", tmp_path / "groups.json", "--move-to", tmp_path / "dups")
    assert code == 0, out
    assert json.loads((tmp_path / "groups.json").read_text())["duplicates"] == 3
    log = next((tmp_path / "dups").glob("lookalike-dedup-*.jsonl"))
    assert "lookalike dedup --undo" in out and log.name in out
    assert len(snapshot(photos)) == len(before) - 3
    code, out = invoke("dedup", "--undo", log)
    assert code == 0 and "restored 3 file(s)" in out
    assert snapshot(photos) == before


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "one.png").write_bytes(b"")
    for args in (
        ("dedup", tmp_path / "missing"),
        ("dedup", tmp_path / "one.png"),
        ("dedup",),
        ("dedup", "--undo", tmp_path / "missing.jsonl"),
        ("dedup", tmp_path, "--min-ncc", "2"),
    ):
        code, out = invoke(*args)
        assert code == 1 and out.startswith("error:") and len(out.strip().splitlines()) == 1, out
        assert "Traceback" not in out


def test_cli_unreadable_files_and_strict(tmp_path: Path) -> None:
    pattern(40).save(tmp_path / "a.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, out = invoke("dedup", tmp_path)
    assert code == 0 and "1 unreadable" in out and "broken.jpg" in out
    code, out = invoke("dedup", tmp_path, "--strict")
    assert code == 1 and "--strict" in out


def test_cli_help_has_an_example() -> None:
    code, out = invoke("dedup", "--help")
    assert code == 0 and "Example" in out and "--move-to" in out and "--undo" in out
