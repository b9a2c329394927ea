"""inspect_folder on a labelled folder with planted problems of every kind (real CIFAR-10 images), and the
report it makes (JSON rows, the HTML page)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from lookalike.dedup.results import Member
from lookalike.errors import LookalikeError
from lookalike.inspection import KINDS, inspect_folder
from lookalike.inspection.html import write_html
from planted_issues import pairs_of, plant
from shared_data import WEIGHTS, needs_shared

#: The kinds the planted folder must find whole and exactly (outliers and blur: see RESULTS.md "Inspect").
EXACT_KINDS = ("exact_duplicates", "near_duplicates", "leak", "label_conflict", "dark", "light",
               "low_information", "odd_size", "odd_aspect_ratio", "grayscale")  # fmt: skip


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, set[str]], object]:
    from lookalike.features import Embedder

    root = tmp_path_factory.mktemp("inspect") / "data"
    truth = plant(root, per_class=12, per_kind=2)
    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    return root, truth, inspect_folder(root, embedder=embedder)


@needs_shared
@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_every_planted_file_of_a_kind_is_found_and_nothing_else(planted: tuple, kind: str) -> None:
    _root, truth, report = planted
    pairs = pairs_of(truth)
    want = {p for p, k in truth.items() if kind in k}
    got = {f.path for f in report.findings if f.kind == kind}
    assert want, kind
    assert {p for p in want if p in got or pairs.get(p) in got} == want  # recall 1
    assert got <= want | {pairs[p] for p in want if p in pairs}  # precision 1


@needs_shared
def test_the_report_lists_rows_counts_and_layout_and_draws_a_page(planted: tuple, tmp_path: Path) -> None:
    _root, _truth, report = planted
    data = report.to_dict()
    assert data["layout"]["kind"] == "splits" and data["layout"]["splits"] == ["test", "train"]
    assert set(data["counts"]) == set(KINDS) and data["images"] == report.images > 80
    row = next(r for r in data["findings"] if r["kind"] == "leak")
    assert {"path", "kind", "score", "other", "split", "other_split", "relation"} <= set(row)
    assert row["split"] == "test" and row["other_split"] == "train"
    page = write_html(report, tmp_path / "report.html").read_text()
    assert page.count("data:image/jpeg;base64,") >= 2 * len([f for f in report.findings if f.other]) // 2
    assert 'id="leak"' in page and "<script" not in page and "http" not in page.split("<body>")[1]


def test_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LookalikeError, match="no such folder"):
        inspect_folder(tmp_path / "nothing")


@needs_shared
def test_without_vectors_only_the_pictures_statistics_find_outliers(tmp_path: Path) -> None:
    root = tmp_path / "data"
    truth = plant(root, per_class=12, per_kind=2)
    report = inspect_folder(root)
    assert any(n.startswith("outlier: only the pictures' statistics weighed") for n in report.notes)
    found = report.of_kind("outlier")
    assert {f.path for f in found} == {p for p, k in truth.items() if "outlier" in k}
    assert all(f.evidence["test"].startswith("unlike the folder's pictures") for f in found)
    assert report.of_kind("leak")  # the rest still runs


def test_a_copy_whose_scores_already_meet_strict_is_confirmed_without_reading_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lookalike.inspection as inspection

    checked: list[tuple[Path, Path]] = []

    def verify(a: Path, b: Path, **_: object) -> SimpleNamespace:
        checked.append((a, b))
        return SimpleNamespace(duplicate=False)

    monkeypatch.setattr(inspection, "verify_pair", verify)
    close = Member(
        Path("c.jpg"), 32, 32, 900, 0.0, False, ncc=0.99, rmse=0.02, ssim=0.95, colour=0.01, detail=0.9
    )
    soft = dataclasses.replace(close, path=Path("s.jpg"), ssim=0.85)  # passed normal, not strict
    assert inspection._strictly_alike([(Path("k1.png"), close), (Path("k2.png"), soft)]) == [True, False]
    assert checked == [(Path("k2.png"), Path("s.jpg"))]
