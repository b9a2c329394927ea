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
    assert report["skipped"] == {
        "total": 1,
        "no_reader": {},
        "unknown": {".txt": 1},
        "excluded": 0,
        "excluded_folders": 0,
    }


def indexed(folder: Path) -> list[str]:
    from lookalike.collection import Index

    with Index.open(folder / ".lookalike") as idx:
        return [e.path for e in idx.entries("all")]


def test_index_remembers_its_exclude_patterns_and_applies_new_ones(
    tmp_path: Path, weights: Path, invoke: Invoke
) -> None:
    from lookalike.collection import Index

    folder = photos(tmp_path / "photos")  # 0.png … 3.png
    photos(folder / "raw", 2, seed=10)
    photos(folder / "trip" / "drafts", 1, seed=20)
    (folder / "notes.tmp").write_text("scratch\n")
    first = index_json(folder, "--weights", weights, *SIZE, "--exclude", "raw/**", "--exclude", "drafts")
    assert (first["new"], first["exclude"], first["exclude_before"]) == (4, ["raw/**", "drafts"], None)
    assert first["skipped"] == {  # type: ignore[index]
        "total": 1,
        "no_reader": {},
        "unknown": {".tmp": 1},
        "excluded": 0,
        "excluded_folders": 2,
    }
    assert indexed(folder) == ["0.png", "1.png", "2.png", "3.png"]
    with Index.open(folder / ".lookalike") as idx:
        assert idx.exclude == ("raw/**", "drafts")

    again = index_json(folder)  # no --exclude: the remembered patterns, nothing new
    assert (again["new"], again["unchanged"], again["removed"]) == (0, 4, 0)
    assert (again["exclude"], again["exclude_before"]) == (["raw/**", "drafts"], None)
    assert indexed(folder) == ["0.png", "1.png", "2.png", "3.png"]

    # other patterns: rows of files now excluded go, files no longer excluded come in, and it says so
    code, out = invoke("index", folder, "--backend", "torch", "--exclude", "0.png", "--exclude", "*.tmp")
    assert code == 0, out
    assert "note: excluding '0.png' '*.tmp' from now on (instead of 'raw/**' 'drafts')" in out
    assert "new 3 ·" in out and "removed 1 ·" in out and "excluding: '0.png' '*.tmp'" in out
    assert "2 files excluded by pattern" in out
    assert indexed(folder) == ["1.png", "2.png", "3.png", "raw/10.png", "raw/11.png", "trip/drafts/20.png"]
    code, out = invoke("info", folder)
    assert code == 0 and "'0.png' '*.tmp'" in out and "2 files excluded by pattern" in out, out

    later = index_json(folder)  # remembered again
    assert (later["new"], later["removed"], later["exclude"]) == (0, 0, ["0.png", "*.tmp"])
    rebuilt = index_json(folder, "--rebuild", "--weights", weights, *SIZE)  # a fresh index, same patterns
    assert (rebuilt["rebuilt"], rebuilt["new"], rebuilt["exclude"]) == (True, 6, ["0.png", "*.tmp"])


def test_index_refuses_an_empty_exclude_pattern_in_one_line(tmp_path: Path, invoke: Invoke) -> None:
    folder = photos(tmp_path / "photos", n=1)
    code, out = invoke("index", folder, "--exclude", "*.tmp", "--exclude", "")
    assert code == 1 and out.count("\n") == 1, out
    assert out == (
        "error: exclude pattern '' is empty; give each --exclude pattern a glob such as *.tmp, drafts or "
        "raw/**\n"
    )
    assert not (folder / ".lookalike").exists()
