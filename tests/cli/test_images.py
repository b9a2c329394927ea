"""The commands on single images (compare, samples) as a user meets them: tables, JSON, and one clear line
for every bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli import app

Invoke = Any
RANDOM = ["--weights", "none", "--size", "32"]


def test_compare_prints_the_lectures_table(invoke: Invoke, pair: tuple[Path, Path]) -> None:
    code, out = invoke("compare", *pair, *RANDOM)
    assert code == 0, out
    for label in ("L1 distance", "MSE", "Cosine similarity", "Normalized cross-correlation"):
        assert label in out
    assert "pixels" in out and "resnet18 features" in out


def test_compare_json_has_both_spaces_and_all_metrics(invoke: Invoke, pair: tuple[Path, Path]) -> None:
    code, out = invoke("compare", *pair, *RANDOM, "--json")
    assert code == 0, out
    data = json.loads(out)
    assert set(data["pixels"]) == set(data["features"]) == {"l1", "mse", "cosine", "ncc"}
    assert data["input_size"] == [3, 32, 32] and data["model"] == "resnet18"


def test_compare_one_space_only(invoke: Invoke, pair: tuple[Path, Path]) -> None:
    code, out = invoke("compare", *pair, *RANDOM, "--space", "pixels", "--json")
    assert code == 0 and json.loads(out)["features"] is None


def make_bad(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.jpg"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "truncated":
        Image.effect_noise((64, 64), 40).convert("RGB").save(path, quality=95)
        path.write_bytes(path.read_bytes()[:600])
    elif kind == "corrupt":
        Image.new("RGB", (64, 64)).save(path)
        data = bytearray(path.read_bytes())
        data[2:40] = bytes(38)
        path.write_bytes(bytes(data))
    elif kind == "text":
        path.write_text("this is not a picture\n")
    elif kind == "bomb":
        Image.new("RGB", (200, 200)).save(path)
    return path


BAD = ["missing", "directory", "empty", "truncated", "corrupt", "text", "bomb"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_images_are_one_line_without_traceback(
    kind: str, tmp_path: Path, invoke: Invoke, pair: tuple[Path, Path]
) -> None:
    bad = make_bad(kind, tmp_path)
    code, out = invoke("compare", pair[0], bad, *RANDOM, env={"LOOKALIKE_MAX_PIXELS": "10000"})
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and bad.name in lines[0]
    assert "Traceback" not in out


def test_debug_variable_shows_the_traceback(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(
        app, ["compare", str(pair[0]), str(tmp_path / "nope.png"), *RANDOM], env={"LOOKALIKE_DEBUG": "1"}
    )
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "ImageError"


def test_bad_weights_are_one_line(tmp_path: Path, invoke: Invoke, pair: tuple[Path, Path]) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_text("not weights")
    code, out = invoke("compare", *pair, "--weights", junk)
    assert code == 1 and out.count("\n") == 1 and "not a readable PyTorch weights file" in out
    code, out = invoke("compare", *pair, "--weights", tmp_path / "nope.pt")
    assert code == 1 and "weights file not found" in out


def test_weights_come_from_the_environment(invoke: Invoke, pair: tuple[Path, Path]) -> None:
    code, out = invoke("compare", *pair, "--size", "32", "--json", env={"LOOKALIKE_WEIGHTS": "none"})
    assert code == 0 and json.loads(out)["weights"] == "random"


def test_samples_writes_photos_and_edited_copies(tmp_path: Path, invoke: Invoke) -> None:
    pytest.importorskip("skimage")
    code, out = invoke("samples", tmp_path / "s", "--json")
    assert code == 0
    names = {Path(p).name for p in json.loads(out)}
    assert {"chelsea.png", "chelsea-flipped.png", "chelsea-shifted.png", "coffee.png"} <= names
    cat = Image.open(tmp_path / "s" / "chelsea.png")
    flipped = Image.open(tmp_path / "s" / "chelsea-flipped.png")
    assert cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes() == flipped.tobytes()


def test_samples_builds_the_tour_folder_with_cifar_images_and_broken_files(
    tmp_path: Path, invoke: Invoke
) -> None:
    from lookalike.errors import ImageError
    from lookalike.images import load_image
    from lookalike.scanning import scan_images

    cifar = tmp_path / "cifar"
    for name in ("cat", "dog"):
        (cifar / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (40 * i, 80, 120)).save(cifar / name / f"{i:04d}.jpg")
    code, out = invoke(
        "samples", tmp_path / "photos", "--cifar", cifar, "--per-class", "2", "--broken", "--json"
    )
    assert code == 0, out
    written = {Path(p).relative_to(tmp_path / "photos").as_posix() for p in json.loads(out)}
    assert {"cat/0000.jpg", "cat/0001.jpg", "dog/0000.jpg", "dog/0001.jpg"} <= written
    assert "cat/0002.jpg" not in written and {"chelsea.png", "empty.jpg", "cut off.png"} <= written
    assert len(scan_images(tmp_path / "photos").paths) == len(written) == 10 + 4 + 2
    for broken, words in (("empty.jpg", "empty"), ("cut off.png", "truncated")):
        with pytest.raises(ImageError, match=words):
            load_image(tmp_path / "photos" / broken)
    code, out = invoke("samples", tmp_path / "again", "--cifar", tmp_path / "nowhere")
    assert code == 1 and "holds no class folders" in out
