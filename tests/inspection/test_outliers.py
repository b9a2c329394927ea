"""Outliers in feature space: far from every image, or far from the image's own class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.inspection.outliers import outlier_findings


def clusters(seed: int = 0) -> tuple[list[Path], np.ndarray, list[str]]:
    """Three classes of 30 vectors each around their own direction (cosine ~0.9 within a class)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 64))
    rows, labels = [], []
    for c in range(3):
        for _ in range(30):
            rows.append(centres[c] + 0.35 * rng.normal(size=64))
            labels.append("abc"[c])
    return [Path(f"{i}.jpg") for i in range(len(rows))], np.asarray(rows, np.float32), labels


def test_a_vector_far_from_every_other_is_an_outlier_and_nothing_else_is() -> None:
    paths, vectors, _labels = clusters()
    rng = np.random.default_rng(1)
    paths.append(Path("odd.jpg"))
    vectors = np.vstack([vectors, rng.normal(size=(1, 64)).astype(np.float32)])
    found = outlier_findings(paths, vectors)
    assert [f.path for f in found] == [Path("odd.jpg")]
    assert found[0].evidence["test"] == "far from every image" and found[0].evidence["distance"] > 0.5
    assert outlier_findings(paths, vectors, explained={Path("odd.jpg")}) == []  # explained elsewhere


def test_an_image_filed_under_the_wrong_class_is_far_from_its_class() -> None:
    paths, vectors, labels = clusters()
    labels[5] = "b"  # one of class a filed under b: near the a's, far from the b's
    found = outlier_findings(paths, vectors, labels)
    assert [f.path for f in found] == [paths[5]]
    assert found[0].evidence["test"] == "far from its class b" and found[0].evidence["nearest_label"] == "a"
    assert outlier_findings(paths, vectors) == []  # without labels nothing is far


def test_two_copies_of_an_odd_picture_do_not_hide_each_other() -> None:
    paths, vectors, _ = clusters()
    odd = np.random.default_rng(2).normal(size=(1, 64)).astype(np.float32)
    paths += [Path("odd.jpg"), Path("odd-copy.jpg")]
    vectors = np.vstack([vectors, odd, odd * 1.001])
    assert {f.path for f in outlier_findings(paths, vectors)} == {Path("odd.jpg"), Path("odd-copy.jpg")}


def test_a_cluster_of_its_own_within_a_class_is_no_outlier() -> None:
    """Eleven of class b's forty seen "from behind": far past b's class line (its mean direction), yet
    nearer b's mean than a's or c's — a part of b, not a stranger in it; a stranger filed under b still is."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64))
    behind = rng.normal(size=64)
    behind *= 1.2 * np.linalg.norm(centres[1]) / np.linalg.norm(behind)
    rows, labels = [], []
    for c in range(3):
        for i in range(40):
            rows.append(centres[c] + (behind if c == 1 and i >= 29 else 0) + 0.2 * rng.normal(size=64))
            labels.append("abc"[c])
    paths = [Path(f"{i}.jpg") for i in range(len(rows))]
    vectors = np.asarray(rows, np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    b_mean = unit[40:80].mean(axis=0)
    to_b = 1 - unit[40:80] @ (b_mean / np.linalg.norm(b_mean))
    assert (to_b[29:] > np.median(to_b) + 8 * 1.4826 * np.median(np.abs(to_b - np.median(to_b)))).all()
    assert outlier_findings(paths, vectors, labels) == []
    labels[5] = "b"  # one of class a filed under b
    found = outlier_findings(paths, vectors, labels)
    assert [f.path for f in found] == [paths[5]] and found[0].evidence["nearest_class"] == "a"
