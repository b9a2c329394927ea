"""``lookalike inspect`` as a user runs it: the table, the JSON rows, the HTML page, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from lookalike.cli import app
from planted_issues import plant
from shared_data import WEIGHTS, needs_shared

Invoke = Callable[..., tuple[int, str]]


@needs_shared
def test_inspect_prints_counts_writes_json_and_html(tmp_path: Path, invoke: Invoke) -> None:
    root = tmp_path / "data"
    plant(root, per_class=6, per_kind=1)
    html = tmp_path / "report.html"
    code, out = invoke("inspect", root, "--html", html, "--json", tmp_path / "f.json", env={"COLUMNS": "120"})
    assert code == 0, out
    assert "leak" in out and "test/" in out and "layout: splits (test, train), 6 labels" in out
    assert "outlier: only the pictures' statistics weighed" in out  # no index, no --weights
    assert html.is_file() and "data:image/jpeg;base64," in html.read_text()
    rows = json.loads((tmp_path / "f.json").read_text())
    assert rows["counts"]["leak"] == 1 and rows["counts"]["dark"] == 1
    result = CliRunner().invoke(app, ["inspect", str(root), "--json", "-", "--weights", str(WEIGHTS)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout is the JSON alone
    assert data["images"] > 40 and all({"path", "kind", "score"} <= set(r) for r in data["findings"])
    assert not any(n.startswith("outlier: only the pictures") for n in data["notes"])


def test_inspect_mistakes_are_one_line(tmp_path: Path, invoke: Invoke) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    for args, says in (
        (("inspect", tmp_path / "missing"), "no such folder"),
        (("inspect", tmp_path / "a.png"), "is a file, not a folder"),
        (("inspect", tmp_path, "--against", tmp_path / "nope"), "--against"),
    ):
        code, out = invoke(*args)
        assert code == 1 and says in out and len(out.strip().splitlines()) == 1, out


def test_inspect_help_has_an_example(invoke: Invoke) -> None:
    code, out = invoke("inspect", "--help")
    assert code == 0 and "lookalike inspect test/ --against train/" in out
