"""``index``, ``search`` and ``info`` as a user runs them again and again over one folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli import app

Invoke = Callable[..., tuple[int, str]]
SIZE = ["--size", "16"]


def photos(folder: Path, n: int = 4, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(seed + i)
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{seed + i}.png")
    return folder


def index_json(*args: str | Path) -> dict[str, object]:
    """``lookalike index ARGS --json`` on the torch backend (no ONNX export): its JSON report."""
    result = CliRunner().invoke(app, ["index", *map(str, args), "--backend", "torch", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_an_update_uses_the_weights_model_and_size_the_index_was_made_with(
    tmp_path: Path, weights: Path, invoke: Invoke
) -> None:
    folder = photos(tmp_path / "photos")
    first = index_json(folder, "--weights", weights, *SIZE)
    assert first["created"] and first["new"] == 4
    photos(folder, 1, seed=10)
    again = index_json(folder)  # no --weights: the index's own, not DEFAULT (a download)
    assert not again["created"] and not again["rebuilt"]
    assert (again["new"], again["unchanged"]) == (1, 4)


def test_an_update_after_the_weights_file_is_gone_says_so(
    tmp_path: Path, weights: Path, invoke: Invoke
) -> None:
    folder = photos(tmp_path / "photos")
    moved = tmp_path / "w.pt"
    shutil.copyfile(weights, moved)
    index_json(folder, "--weights", moved, *SIZE)
    moved.unlink()
    code, out = invoke("index", folder)
    assert code == 1 and out.startswith("error: ") and "which is gone" in out


def test_a_damaged_catalogue_is_restored_before_the_update(
    tmp_path: Path, weights: Path, invoke: Invoke
) -> None:
    folder = photos(tmp_path / "photos")
    index_json(folder, "--weights", weights, *SIZE)
    (folder / ".lookalike" / "index.db").write_bytes(b"not a database" * 100)
    code, out = invoke("index", folder, "--backend", "torch")
    assert code == 0, out
    assert "note:" in out and "updated" in out


def test_index_counts_the_files_it_passes_over_and_names_the_extra(
    tmp_path: Path, weights: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from format_files import photo, save
    from lookalike import formats

    folder = photos(tmp_path / "photos", n=2)
    save(photo(48, 32, seed=1), folder / "IMG_0001.heic", quality=90)
    save(photo(48, 32, seed=2), folder / "IMG_0002.HEIC", quality=90)
    (folder / "notes.txt").write_text("not an image\n")
    monkeypatch.setattr(formats, "_reader_ready", lambda name: name != "HEIC")
    code, out = invoke("index", folder, "--weights", weights, *SIZE, "--backend", "torch")
    assert code == 0, out
    assert "new 2 ·" in out and "skipped 3" in out
    assert "2 .heic files skipped: HEIC files need pillow-heif: pip install 'lookalike[heif]'" in out
    assert "1 file of unknown type skipped (.txt 1)" in out
    code, out = invoke("info", folder)
    assert code == 0 and "2 .heic files skipped" in out, out
    monkeypatch.undo()  # pillow-heif installed: the same folder indexes the HEIC photos too
    report = index_json(folder, "--weights", weights, *SIZE)
    assert report["new"] == 2 and report["failed"] == []
    assert report["skipped"] == {"total": 1, "no_reader": {}, "unknown": {".txt": 1}}
