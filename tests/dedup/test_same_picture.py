"""Copy marks on search hits (lookalike.dedup.same_picture): planted copies marked with how the query turns
into them, other pictures of the same kind not, the same verdict as verify_pair, a decoded picture marked as
its file, and hits left unchecked past the limit, the time budget or when unreadable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from format_files import photo
from lookalike.collection.records import Hit
from lookalike.dedup import CopyMark, mark_copies, same_picture, verify_pair
from lookalike.images import load_image
from shared_data import CIFAR, needs_cifar


@needs_cifar
def test_copies_of_a_cifar_image_are_marked_and_other_cats_are_not(tmp_path: Path) -> None:
    query = tmp_path / "cat.jpg"
    shutil.copyfile(CIFAR / "cat" / "0000.jpg", query)
    with Image.open(query) as img:
        img.save(tmp_path / "q30.jpg", quality=30)
        img.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.png")
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "mirrored.png")
    shutil.copyfile(query, tmp_path / "same-bytes.jpg")
    others = sorted((CIFAR / "cat").iterdir())[1:9]
    files = [tmp_path / n for n in ("q30.jpg", "turned.png", "mirrored.png", "same-bytes.jpg")] + others
    # search hits as Index.search gives them, or plain paths: the same marks
    hits = [Hit(i, 0.9, f, f.name, 32, 32, f.stat().st_size) for i, f in enumerate(files, 1)]
    marks = mark_copies(query, hits)
    assert marks == mark_copies(query, files)
    assert [(m.copy, m.relation) for m in marks[:4]] == [
        (True, "near-identical"),
        (True, "rotated 90° counter-clockwise"),  # Pillow's ROTATE_90 turns counter-clockwise
        (True, "mirrored"),
        (True, "exact"),
    ]
    assert [m.copy for m in marks[4:]] == [False] * len(others)
    assert all(m.relation is None and m.note is None for m in marks[4:])
    for f, m in zip(files, marks, strict=True):  # the duplicate checks' own verdict
        assert verify_pair(query, f).duplicate is m.copy
    assert same_picture(query, tmp_path / "turned.png") == marks[1]


def test_a_decoded_picture_is_marked_as_its_file_and_large_images_on_threads(tmp_path: Path) -> None:
    original = photo(640, 480, seed=1)
    query = tmp_path / "photo.jpg"
    original.save(query, quality=92)
    original.save(tmp_path / "q30.jpg", quality=30)
    original.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "clockwise.png")
    original.crop((32, 24, 608, 456)).save(tmp_path / "crop.png")  # 5% off every side
    photo(640, 480, seed=2).save(tmp_path / "other.jpg", quality=92)
    hits = [tmp_path / n for n in ("q30.jpg", "clockwise.png", "other.jpg", "crop.png")]
    expected = [(True, "near-identical"), (True, "rotated 90° clockwise"), (False, None), (True, "cropped")]
    for workers in (1, 2):
        assert [(m.copy, m.relation) for m in mark_copies(query, hits, workers=workers)] == expected
    decoded = load_image(query)  # as an upload is decoded: no file behind it
    assert [(m.copy, m.relation) for m in mark_copies(decoded, hits)] == expected
    assert mark_copies(decoded, [query])[0] == CopyMark(True, "near-identical")  # no bytes to compare


@needs_cifar
def test_hits_past_the_limit_or_the_budget_or_unreadable_stay_unchecked(tmp_path: Path) -> None:
    query = CIFAR / "cat" / "0000.jpg"
    others = sorted((CIFAR / "cat").iterdir())[1:4]
    marks = mark_copies(query, [query, *others], limit=2)
    assert [m.copy for m in marks] == [True, False, None, None]
    assert marks[2].note == "not checked: past the first 2 hits"
    assert [m.note for m in mark_copies(query, others, budget=0)] == ["not checked: past the time budget"] * 3
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    gone, broken = tmp_path / "gone.jpg", tmp_path / "broken.jpg"
    marks = mark_copies(query, [gone, broken, query])
    assert [m.copy for m in marks] == [None, None, True]
    assert "gone.jpg" in (marks[0].note or "") and "broken.jpg" in (marks[1].note or "")
    unread = mark_copies(broken, others)
    assert [m.copy for m in unread] == [None] * 3
    assert (unread[0].note or "").startswith("not checked: the query cannot be read")
    assert mark_copies(query, []) == []
    with pytest.raises(Exception, match="strictness 'sloppy'"):
        mark_copies(query, others, strictness="sloppy")
