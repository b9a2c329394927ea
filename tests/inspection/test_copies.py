"""Copies in a dataset: duplicates, leaks across splits or into a reference folder, label conflicts."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from format_files import photo
from lookalike.dedup import find_duplicates
from lookalike.dedup.results import Member
from lookalike.inspection.copies import copy_findings
from lookalike.inspection.layout import read_layout


def make(root: Path) -> dict[str, Path]:
    files = {}
    for i, rel in enumerate(("train/cat/a.png", "train/cat/b.png", "train/dog/c.png", "test/cat/d.png")):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        photo(200, 150, seed=i).save(path)
        files[rel] = path
    return files


def kinds(root: Path) -> dict[str, tuple[str, str]]:
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    result = find_duplicates(paths)
    found, _ = copy_findings(result, read_layout(root, paths), set(paths))
    return {
        f.path.relative_to(root).as_posix(): (f.kind, f.other.relative_to(root).as_posix()) for f in found
    }


def test_exact_and_near_duplicates_in_one_split_and_class(tmp_path: Path) -> None:
    files = make(tmp_path)
    shutil.copyfile(files["train/cat/a.png"], tmp_path / "train/cat/a-copy.png")
    with Image.open(files["train/cat/b.png"]) as img:
        img.resize((160, 120)).save(tmp_path / "train/cat/b-small.jpg", quality=50)
    found = kinds(tmp_path)
    exact = found.get("train/cat/a-copy.png") or found.get("train/cat/a.png")
    assert exact is not None and exact[0] == "exact_duplicates"
    assert found["train/cat/b-small.jpg"] == (
        "near_duplicates",
        "train/cat/b.png",
    )  # the copy, not the keeper
    assert len(found) == 2


def test_a_copy_in_another_split_is_a_leak_on_the_evaluation_side(tmp_path: Path) -> None:
    files = make(tmp_path)
    with Image.open(files["train/dog/c.png"]) as img:
        img.save(tmp_path / "test/cat/leak.jpg", quality=70)  # under another label too: the leak says it
    shutil.copyfile(files["test/cat/d.png"], tmp_path / "train/cat/d.png")  # the training copy is the keeper
    found = kinds(tmp_path)
    assert found["test/cat/leak.jpg"] == ("leak", "train/dog/c.png")
    assert found["test/cat/d.png"] == ("leak", "train/cat/d.png")
    assert len(found) == 2


def test_a_copy_under_another_class_is_a_label_conflict(tmp_path: Path) -> None:
    files = make(tmp_path)
    shutil.copyfile(files["train/cat/a.png"], tmp_path / "train/dog/a.png")
    found = kinds(tmp_path)
    assert list(found.values()) == [("label_conflict", next(iter(found.values()))[1])]
    ((path, (_, other)),) = found.items()
    assert {path, other} == {"train/cat/a.png", "train/dog/a.png"}


def test_a_leak_or_conflict_needs_the_confirmation_unless_the_bytes_are_the_same(tmp_path: Path) -> None:
    files = make(tmp_path)
    with Image.open(files["train/cat/a.png"]) as img:
        img.save(tmp_path / "train/dog/a.jpg", quality=70)  # a re-encode under another label
    shutil.copyfile(files["train/cat/b.png"], tmp_path / "test/cat/b.png")  # a byte copy in another split
    paths = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    result = find_duplicates(paths)
    layout = read_layout(tmp_path, paths)
    asked: list[tuple[Path, Member]] = []

    def refuse(pairs: Sequence[tuple[Path, Member]]) -> list[bool]:
        asked.extend(pairs)
        return [False] * len(pairs)

    found, unconfirmed = copy_findings(result, layout, set(paths), confirm=refuse)
    assert [(f.kind, f.path.name) for f in found] == [("leak", "b.png")] and unconfirmed == 1
    assert len(asked) == 1 and {asked[0][0].name, asked[0][1].path.name} == {"a.png", "a.jpg"}
    found, unconfirmed = copy_findings(result, layout, set(paths), confirm=lambda pairs: [True] * len(pairs))
    assert sorted(f.kind for f in found) == ["label_conflict", "leak"] and unconfirmed == 0
