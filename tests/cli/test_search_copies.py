"""``lookalike search`` marks the hits that are copies of the query: ``copy`` and ``relation`` in --json, a
Copy column in the table, and --no-copies to skip the check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from typer.testing import CliRunner

from cli.conftest import Invoke
from format_files import photo
from lookalike.cli import app


def _folder(folder: Path) -> Path:
    """Four distinct photos, and of the first a JPEG-30 copy and a copy turned 90° clockwise."""
    folder.mkdir()
    for seed in range(4):
        photo(160, 120, seed=seed).save(folder / f"photo{seed}.png")
    original = photo(160, 120, seed=0)
    original.save(folder / "copy-q30.jpg", quality=30)
    original.transpose(Image.Transpose.ROTATE_270).save(folder / "copy-clockwise.png")
    return folder


def _search_json(*args: str | Path) -> Any:
    result = CliRunner().invoke(app, ["search", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_marks_copies_of_the_query(tmp_path: Path, weights: Path, invoke: Invoke) -> None:
    folder = _folder(tmp_path / "photos")
    code, out = invoke("index", folder, "--weights", weights, "--size", "16", "--backend", "torch")
    assert code == 0, out
    data = _search_json(folder / "photo0.png", "-k", "5")
    hits = data["hits"]
    assert len(hits) == 5
    marks = {h["relpath"]: (h["copy"], h["relation"]) for h in hits}
    assert marks == {
        "copy-q30.jpg": (True, "near-identical"),
        "copy-clockwise.png": (True, "rotated 90° clockwise"),
        "photo1.png": (False, None),
        "photo2.png": (False, None),
        "photo3.png": (False, None),
    }
    code, out = invoke("search", folder / "photo0.png", "-k", "5")
    assert code == 0, out
    assert "Copy" in out and "copy: rotated 90°" in out and "copy: near-identical" in out  # (may wrap)
    assert "copies: 2 of 5 hits checked are the same picture as the query" in out
    # an image file outside the index: its pixels are compared the same way
    (tmp_path / "query.png").write_bytes((folder / "photo0.png").read_bytes())
    outside = _search_json(
        tmp_path / "query.png", "-k", "5", "--index", folder / ".lookalike", "--backend", "torch"
    )
    assert {h["relpath"]: h["copy"] for h in outside["hits"]}["copy-clockwise.png"] is True

    skipped = _search_json(folder / "photo0.png", "-k", "5", "--no-copies")
    assert {(h["copy"], h["relation"]) for h in skipped["hits"]} == {(None, None)}
    code, out = invoke("search", folder / "photo0.png", "-k", "5", "--no-copies")
    assert code == 0 and "Copy" not in out and "copies:" not in out
    code, out = invoke("search", "--help")
    assert "--no-copies" in out
