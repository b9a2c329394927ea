"""Retrieval quality: P@k, mAP@k and kNN accuracy, the split, pixels vs features, ``lookalike evaluate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.errors import DataError, LookalikeError
from lookalike.evaluate import Evaluation, _split, draw_examples, evaluate, nearest, retrieval_scores
from lookalike.features import Embedder
from shared_data import CIFAR as SHARED_TRAIN
from shared_data import WEIGHTS as SHARED_WEIGHTS
from shared_data import needs_shared

runner = CliRunner()
PER_CLASS = 30


# ----------------------------------------------------------------------------------------------------------
# The measures on hand-made data


def test_scores_by_hand() -> None:
    gallery = torch.tensor([0, 0, 0, 1, 1, 2])
    queries = torch.tensor([0, 1, 2])
    neighbours = torch.tensor(
        [
            [0, 3, 1],  # class 0: relevant, not, relevant
            [0, 2, 4],  # class 1: not, not, relevant (R = 2)
            [5, 3, 4],  # class 2: relevant, not, not (R = 1)
        ]
    )
    s = retrieval_scores(neighbours, queries, gallery)
    assert s["p_at_k"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 3) / 3)
    # AP@3 = Σ P@i·rel_i / min(k, R): (1 + 2/3) / 3, (1/3) / 2, 1 / 1
    assert s["map_at_k"] == pytest.approx(((1 + 2 / 3) / 3 + (1 / 3) / 2 + 1.0) / 3)
    # votes: 0 ← {0, 0, 1}: right; 1 ← {0, 0, 1}: wrong; 2 ← {2, 1, 1}: wrong
    assert s["knn_accuracy"] == pytest.approx(1 / 3)


def test_knn_ties_go_to_the_nearest_class() -> None:
    gallery = torch.tensor([0, 1, 1, 0])
    # two votes each for 0 and 1; class 1 holds the nearest neighbour
    s = retrieval_scores(torch.tensor([[1, 0, 2, 3]]), torch.tensor([1]), gallery)
    assert s["knn_accuracy"] == 1.0
    s = retrieval_scores(torch.tensor([[0, 1, 2, 3]]), torch.tensor([1]), gallery)
    assert s["knn_accuracy"] == 0.0


def test_nearest_on_2d_points_for_every_metric() -> None:
    # two classes: near the x axis (0) and near the y axis (1), at several lengths
    gallery = torch.tensor([[1.0, 0.0], [4.0, 0.5], [0.0, 1.0], [0.5, 4.0], [6.0, 0.0], [0.0, 7.0]])
    labels = torch.tensor([0, 0, 1, 1, 0, 1])
    queries = torch.tensor([[2.5, 0.2], [0.2, 2.5]])
    q_labels = torch.tensor([0, 1])
    # cosine looks at directions only: (4, 0.5) is 2.6° away, (1, 0) and (6, 0) tie at 4.6°: lower index first
    assert nearest(queries, gallery, metric="cosine", k=3)[0].tolist() == [1, 0, 4]
    # L1 and MSE look at positions: (1, 0), then (4, 0.5), then (0, 1) of the other class
    assert nearest(queries, gallery, metric="l1", k=3)[0].tolist() == [0, 1, 2]
    assert nearest(queries, gallery, metric="mse", k=3)[0].tolist() == [0, 1, 2]
    for metric in ("cosine", "l1", "mse", "ncc"):
        s = retrieval_scores(nearest(queries, gallery, metric=metric, k=2), q_labels, labels)
        assert s == {"p_at_k": 1.0, "map_at_k": 1.0, "knn_accuracy": 1.0}, metric
    s = retrieval_scores(nearest(queries, gallery, metric="l1", k=3), q_labels, labels)
    # 3 relevant items exist (R = 3), 2 are found in the first two places: AP@3 = (1 + 1) / 3
    assert s["p_at_k"] == pytest.approx(2 / 3) and s["map_at_k"] == pytest.approx(2 / 3)
    s = retrieval_scores(nearest(queries, gallery, metric="cosine", k=3), q_labels, labels)
    assert s["p_at_k"] == 1.0
    with pytest.raises(LookalikeError, match="unknown metric"):
        nearest(queries, gallery, metric="hamming")


def test_scores_reject_bad_shapes() -> None:
    with pytest.raises(LookalikeError, match="expected"):
        retrieval_scores(
            torch.zeros(3, 2, dtype=torch.int64), torch.zeros(2, dtype=torch.int64), torch.zeros(4)
        )


# ----------------------------------------------------------------------------------------------------------
# CIFAR-10: a few hundred images, pixels vs features


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED_TRAIN.is_dir():
        pytest.skip("needs ../shared/datasets/cifar10/train")
    root = tmp_path_factory.mktemp("labelled")
    for cls in sorted(p.name for p in SHARED_TRAIN.iterdir()):
        (root / cls).mkdir()
        for f in sorted((SHARED_TRAIN / cls).iterdir())[:PER_CLASS]:
            shutil.copyfile(f, root / cls / f.name)
    return root


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    if not SHARED_WEIGHTS.is_file():
        pytest.skip("needs ../shared/models/resnet18-cifar10.pt")
    return Embedder(SHARED_WEIGHTS, device="cpu", precision="float32")


@pytest.fixture(scope="module")
def result(labelled: Path, embedder: Embedder) -> Evaluation:
    return evaluate(labelled, embedder=embedder, queries=50, k=5)


@needs_shared
def test_features_beat_pixels_for_every_metric(result: Evaluation) -> None:
    assert set(result.table) == {"l1", "mse", "cosine", "ncc"}
    for metric, spaces in result.table.items():
        px, ft = spaces["pixels"], spaces["features"]
        assert all(0.0 <= v <= 1.0 for v in (*px.values(), *ft.values()))
        assert ft["p_at_k"] > px["p_at_k"] + 0.3, metric
        assert ft["knn_accuracy"] > px["knn_accuracy"], metric
    assert result.table["cosine"]["features"]["p_at_k"] >= 0.85
    assert result.chance_p_at_k == pytest.approx(0.1)


def test_split_is_stratified_disjoint_and_fixed() -> None:
    labels = torch.arange(10).repeat_interleave(30)
    queries, gallery = _split(labels, 50, None, seed=0)
    assert len(queries) == 50 and len(gallery) == 250 and not set(queries.tolist()) & set(gallery.tolist())
    assert torch.bincount(labels[queries]).tolist() == [5] * 10
    again, _ = _split(labels, 50, None, seed=0)
    assert torch.equal(again, queries)
    other, _ = _split(labels, 50, None, seed=1)
    assert not torch.equal(other, queries)
    queries_l, small = _split(labels, 50, 100, seed=0)
    assert torch.equal(queries_l, queries)  # --limit leaves the queries alone
    assert len(small) == 100 and torch.bincount(labels[small]).tolist() == [10] * 10
    assert set(small.tolist()) <= set(gallery.tolist())
    with pytest.raises(LookalikeError, match="limit=0 must be at least 1") as info:
        _split(labels, 50, 0, seed=0)
    assert info.value.hint == "pass a positive `limit`"


@needs_shared
def test_result_paths_follow_the_split(result: Evaluation) -> None:
    assert len(result.query_paths) == 50 and len(result.gallery_paths) == 10 * PER_CLASS - 50
    assert not set(result.query_paths) & set(result.gallery_paths)
    assert all(
        p.parent.name == result.classes[int(c)]
        for p, c in zip(result.query_paths, result.query_labels, strict=True)
    )


@needs_shared
def test_neighbours_match_the_table(result: Evaluation) -> None:
    nn = result.neighbours[("features", "cosine")]
    assert nn.shape == (50, 5)
    recomputed = retrieval_scores(nn, result.query_labels, result.gallery_labels)
    assert recomputed == result.table["cosine"]["features"]
    data = result.to_dict()
    assert data["queries"] == 50 and data["gallery"] == 250 and data["k"] == 5
    assert (
        json.loads(json.dumps(data))["metrics"]["ncc"]["pixels"]["p_at_k"]
        == result.table["ncc"]["pixels"]["p_at_k"]
    )


@needs_shared
def test_examples_picture(result: Evaluation, tmp_path: Path) -> None:
    out = draw_examples(result, tmp_path / "examples.png", queries=3, shown=4)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.height > img.width  # six rows of five tiles
    with pytest.raises(LookalikeError, match="not evaluated"):
        draw_examples(result, tmp_path / "x.png", metric="hamming")


@needs_shared
def test_unreadable_images_are_skipped_and_listed(labelled: Path, embedder: Embedder, tmp_path: Path) -> None:
    root = tmp_path / "data"
    for cls in ("cat", "dog", "ship"):
        (root / cls).mkdir(parents=True)
        for f in sorted((labelled / cls).iterdir())[:6]:
            shutil.copyfile(f, root / cls / f.name)
    (root / "cat" / "zz-broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    r = evaluate(root, embedder=embedder, queries=6, k=3, metrics=["cosine"])
    assert [p.name for p, _ in r.failures] == ["zz-broken.jpg"] and "zz-broken.jpg" in r.failures[0][1]
    assert len(r.query_paths) + len(r.gallery_paths) == 18


@needs_shared
def test_bad_input_is_a_clear_error(labelled: Path, embedder: Embedder, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        evaluate(tmp_path / "missing", embedder=embedder)
    with pytest.raises(LookalikeError, match="leaves no gallery"):
        evaluate(labelled, embedder=embedder, queries=10 * PER_CLASS)
    with pytest.raises(LookalikeError, match="fewer than k"):
        evaluate(labelled, embedder=embedder, queries=10, limit=5, k=10)
    with pytest.raises(LookalikeError, match="unknown metric"):
        evaluate(labelled, embedder=embedder, metrics=["hamming"])
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DataError, match="no class subfolders"):
        evaluate(tmp_path / "flat", embedder=embedder)


# ----------------------------------------------------------------------------------------------------------
# The command line


def invoke(*args: Any) -> tuple[int, str]:
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


@needs_shared
def test_cli_table_json_and_png(labelled: Path, tmp_path: Path) -> None:
    common = ("evaluate", labelled, "--weights", SHARED_WEIGHTS, "--queries", 20, "--limit", 40, "-k", 5)
    code, out = invoke(*common, "--metric", "cosine", "--metric", "l1", "--png", tmp_path / "ex.png")
    assert code == 0, out
    assert "P@5" in out and "mAP@5" in out and "kNN acc" in out and "Cosine" in out and "L1" in out
    assert "MSE" not in out and (tmp_path / "ex.png").is_file()
    r = runner.invoke(app, [str(a) for a in (*common, "--metric", "ncc", "--json")])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["queries"] == 20 and data["gallery"] == 40 and set(data["metrics"]) == {"ncc"}
    assert data["metrics"]["ncc"]["features"]["p_at_k"] > data["metrics"]["ncc"]["pixels"]["p_at_k"]


@needs_shared
def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    code, out = invoke("evaluate", tmp_path / "missing", "--weights", SHARED_WEIGHTS)
    assert code == 1 and out.startswith("error:") and len(out.strip().splitlines()) == 1, out
    code, out = invoke("evaluate", tmp_path, "--weights", SHARED_WEIGHTS, "-k", 0)
    assert code == 1 and "k=0 must be at least 1; pass a positive -k" in out, out
    assert len(out.strip().splitlines()) == 1, out


def test_cli_help_has_an_example() -> None:
    code, out = invoke("evaluate", "--help")
    assert code == 0 and "Example" in out and "--queries" in out
