"""What each image is, from where it lies: splits, labels, reference folders."""

from __future__ import annotations

from pathlib import Path

from lookalike.inspection.layout import read_layout

ROOT = Path("/data")


def test_splits_with_class_folders() -> None:
    paths = [ROOT / "train/cat/1.jpg", ROOT / "train/dog/2.jpg", ROOT / "Test/cat/3.jpg"]
    layout = read_layout(ROOT, paths)
    assert layout.kind == "splits"
    assert [layout.split[p] for p in paths] == ["train", "train", "test"]
    assert [layout.label[p] for p in paths] == ["cat", "dog", "cat"]
    assert layout.to_dict()["splits"] == ["test", "train"]


def test_class_folders_without_splits() -> None:
    paths = [ROOT / "cat/1.jpg", ROOT / "dog/2.jpg"]
    layout = read_layout(ROOT, paths)
    assert layout.kind == "classes" and layout.label[paths[1]] == "dog" and layout.split[paths[1]] is None


def test_anything_else_is_flat_and_unlabelled() -> None:
    paths = [ROOT / "a.jpg", ROOT / "trip/b.jpg", ROOT / "trip/day1/c.jpg"]
    layout = read_layout(ROOT, paths)
    assert layout.kind == "flat" and not any(layout.label.values()) and not any(layout.split.values())


def test_a_reference_folder_is_a_split_of_its_own_with_its_labels() -> None:
    ref = Path("/train")
    refs = [ref / "cat/9.jpg", ref / "dog/8.jpg"]
    layout = read_layout(ROOT, [ROOT / "cat/1.jpg", ROOT / "dog/2.jpg"], [(ref, refs)])
    assert layout.split[refs[0]] == "against:train" and layout.label[refs[1]] == "dog"
