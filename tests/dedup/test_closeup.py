"""The close-up (lookalike.dedup.closeup): receipts and invoices whose totals differ in one digit are told
apart at the files' own resolution, while a re-encoded, scanned or brightened copy of one is not."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import drawn_documents
import planted_edits
from lookalike.dedup import closeup, find_duplicates, verify_pair


@pytest.fixture(scope="module")
def receipts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two receipts of one shop and two invoices of one template whose totals differ in one digit, and
    copies of the first receipt and the first invoice."""
    folder = tmp_path_factory.mktemp("receipts")
    docs = drawn_documents.documents(random.Random(0), per_family=2)
    rng = random.Random(1)
    out: dict[str, Path] = {}
    for (_, img, _), name in zip(docs, ("r80-a", "r80-b", "r58-a", "r58-b", "inv-a", "inv-b"), strict=True):
        out[name] = folder / f"{name}.png"
        img.save(out[name])
        os.utime(out[name], (1_600_000_000, 1_600_000_000))  # originals are older than their copies
        if name in ("r80-a", "inv-a"):
            for edit in ("jpeg30", "scan", "bright", "crop5", "small", "frame"):
                copy, fmt, options = planted_edits.apply(edit, img, rng)
                out[f"{name}-{edit}"] = planted_edits.save(copy, folder / f"{name}-{edit}", fmt, options)
    return out


@pytest.mark.parametrize("pair", [("r80-a", "r80-b"), ("r58-a", "r58-b"), ("inv-a", "inv-b")])
def test_documents_whose_total_differs_in_one_digit_are_not_duplicates(
    receipts: dict[str, Path], pair: tuple[str, str]
) -> None:
    check = verify_pair(receipts[pair[0]], receipts[pair[1]])
    assert check.ssim is not None and check.ssim > 0.9  # alike at 256 px: only the close-up tells them apart
    assert not check.duplicate, check.to_dict()


@pytest.mark.parametrize(
    ("doc", "edit"),
    [
        *[("r80-a", e) for e in ("jpeg30", "scan", "bright", "crop5")],
        # brightening pushes the invoice's light-blue table header to white: at 256 px its edge is
        # structure on one side only unless the other side is clipped alike
        *[("inv-a", e) for e in ("jpeg30", "scan", "crop5", "bright")],
    ],
)
def test_copies_of_a_document_are_duplicates(receipts: dict[str, Path], doc: str, edit: str) -> None:
    check = verify_pair(receipts[doc], receipts[f"{doc}-{edit}"])
    assert check.duplicate, check.to_dict()
    # and a copy of one is never taken for its sister document
    sister = doc.replace("-a", "-b")
    assert not verify_pair(receipts[sister], receipts[f"{doc}-{edit}"]).duplicate


def test_find_duplicates_groups_each_copy_with_its_own_receipt(receipts: dict[str, Path]) -> None:
    files = list(receipts.values())
    result = find_duplicates(files)
    groups = {frozenset(p.name for p in g.paths) for g in result.groups}
    assert groups == {
        frozenset({"r80-a.png"} | {p.name for k, p in receipts.items() if k.startswith("r80-a-")}),
        frozenset({"inv-a.png"} | {p.name for p in files if p.name.startswith("inv-a-")}),
    }
    assert {g.keeper.name for g in result.groups} == {"r80-a.png", "inv-a.png"}


def test_a_copy_too_small_to_read_joins_the_receipt_it_shows_not_its_sister(
    receipts: dict[str, Path],
) -> None:
    # at 25% of each side the changed digit is a few pixels: the copy passes against both receipts, and
    # the pixel that differ between them say which one it is
    for doc in ("r80-a", "inv-a"):
        sister = doc.replace("-a", "-b")
        result = find_duplicates([receipts[doc], receipts[sister], receipts[f"{doc}-small"]])
        assert [sorted(p.name for p in g.paths) for g in result.groups] == [
            sorted([f"{doc}.png", receipts[f"{doc}-small"].name])
        ]


def test_which_shows_reads_the_pixels_where_two_pictures_differ() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((40, 30)).astype(np.float32)
    b = a.copy()
    b[10:14, 10:13] = 1.0 - b[10:14, 10:13]  # one "digit" differs
    covered = np.ones(a.shape, bool)
    copy = Image.fromarray(np.round(np.clip(b + rng.normal(0, 0.02, b.shape), 0, 1) * 255).astype(np.uint8))
    assert closeup.which_shows(copy, [(a, covered), (b, covered)]) == 1
    assert closeup.which_shows(copy, [(b, covered), (a, covered)]) == 0
    assert closeup.which_shows(copy, [(b, covered), (b, covered)]) is None  # they do not differ
    # two frames of a burst, no pixel apart by much: the one the copy is exactly wins over all its pixels
    frame = np.clip(a + rng.uniform(-0.05, 0.05, a.shape), 0, 1).astype(np.float32)
    exact = Image.fromarray(np.round(a * 255).astype(np.uint8))
    assert closeup.which_shows(exact, [(frame, covered), (a, covered)]) == 1


def test_which_shows_reads_a_digit_of_a_few_faint_pixels_in_a_small_copy() -> None:
    """A receipt at a quarter of its size: the changed digit is two pixels apart by APART and a few more
    by less; the copy still says which receipt it is, and a copy of neither says nothing."""
    rng = np.random.default_rng(2)
    a = rng.uniform(0.3, 0.7, (60, 24)).astype(np.float32)
    b = a.copy()
    b[20, 5:7] += 0.2  # two pixels apart by more than APART
    b[21, 5:9] += 0.1  # four by more than APART_SMALL only
    covered = np.ones(a.shape, bool)

    def shown(x: np.ndarray) -> Image.Image:
        return Image.fromarray(
            np.round(np.clip(x + rng.normal(0, 0.005, x.shape), 0, 1) * 255).astype(np.uint8)
        )

    assert int((np.abs(a - b) > closeup.APART).sum()) < closeup.APART_PIXELS
    assert closeup.which_shows(shown(b), [(a, covered), (b, covered)]) == 1
    assert closeup.which_shows(shown(a), [(a, covered), (b, covered)]) == 0
    halfway = (a + b) / 2  # a third picture, as near to both
    assert closeup.which_shows(shown(halfway), [(a, covered), (b, covered)]) is None


def test_local_difference_sees_one_changed_stroke_and_not_blur() -> None:
    rng = np.random.default_rng(0)
    page = np.ones((200, 300), np.float32)
    for _ in range(300):  # strokes of "text"
        y, x = rng.integers(5, 190), rng.integers(5, 290)
        page[y : y + 3, x : x + rng.integers(4, 9)] = 0.0
    changed = page.copy()
    changed[100:108, 150:153] = 0.0  # one stroke more
    blurred = (
        np.asarray(
            Image.fromarray((page * 255).astype(np.uint8)).resize((150, 100)).resize((300, 200)), np.float32
        )
        / 255
    )
    assert closeup.local_difference(page, page) == 0.0
    assert closeup.local_difference(page, changed) > 2 * closeup.local_difference(page, blurred)
