"""``dedup`` as a user runs it: where its deep-feature candidates come from."""

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


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five distinct images and a copy of one."""
    folder = tmp_path_factory.mktemp("dedup") / "photos"
    folder.mkdir()
    for i in range(5):
        y, x = np.mgrid[0:24, 0:24] / 24
        c = np.random.default_rng(i).uniform(0, 255, 3)
        img = np.stack([c[0] * x, c[1] * y, c[2] * (1 - x) * y], axis=-1)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{i}.png")
    (folder / "copy.png").write_bytes((folder / "3.png").read_bytes())
    return folder


def groups(out: str) -> list[set[str]]:
    return [{Path(m["path"]).name for m in g["members"]} for g in json.loads(out)["groups"]]


def test_pixels_alone_without_weights(folder: Path) -> None:
    result = CliRunner().invoke(app, ["dedup", str(folder), "--json", "-"])
    assert result.exit_code == 0, result.output
    assert groups(result.stdout) == [{"3.png", "copy.png"}]


def test_weights_without_an_index_embed(folder: Path) -> None:
    result = CliRunner().invoke(app, ["dedup", str(folder), "--weights", "none", "--json", "-"])
    assert result.exit_code == 0, result.output
    assert "feature vectors from" not in result.output
    assert groups(result.stdout) == [{"3.png", "copy.png"}]


def test_mistakes_are_one_line(folder: Path, tmp_path: Path, invoke: Invoke) -> None:
    for args, message in [
        ((), "pass a FOLDER to check"),
        ((tmp_path / "nope",), "no such folder"),
        ((folder / "0.png",), "is a file, not a folder"),
        (("--undo", tmp_path / "log.jsonl", "--move-to", tmp_path), "cannot be combined"),
    ]:
        code, out = invoke("dedup", *args)
        assert code == 1 and out.startswith("error: ") and message in out and out.count("\n") == 1, out


def test_an_up_to_date_index_lends_its_vectors(folder: Path, weights: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    built = CliRunner().invoke(app, ["index", str(folder), "--weights", str(weights), "--index", str(index)])
    assert built.exit_code == 0, built.output
    args = ["dedup", str(folder), "--weights", str(weights), "--json", "-"]
    result = CliRunner().invoke(app, args)  # the index is not where dedup looks: embedded
    assert result.exit_code == 0 and "feature vectors from" not in result.output, result.output
    shutil.copytree(index, folder / ".lookalike")
    try:
        result = CliRunner().invoke(app, args)
    finally:
        shutil.rmtree(folder / ".lookalike")
    assert result.exit_code == 0, result.output
    assert "feature vectors from" in result.output
    assert groups(result.stdout) == [{"3.png", "copy.png"}]
