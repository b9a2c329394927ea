"""Training pictures: curves.png and confusion.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.report import plot_confusion, plot_curves

ROWS = [
    {"epoch": 1, "train_loss": 2.1, "train_acc": 0.30, "val_loss": 1.9, "val_acc": 0.35},
    {"epoch": 2, "train_loss": 1.5, "train_acc": 0.50, "val_loss": 1.4, "val_acc": 0.52},
    {"epoch": 3, "train_loss": 1.1, "train_acc": 0.64, "val_loss": 1.2, "val_acc": 0.60},
]


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def test_curves_are_a_png_with_both_panels(tmp_path: Path) -> None:
    out = plot_curves(ROWS, tmp_path / "sub" / "curves.png", title="run")
    assert out == tmp_path / "sub" / "curves.png"
    pixels = _pixels(out)
    assert pixels.shape == (480, 1200, 3)  # 10×4 inches at 120 dpi
    left, right = pixels[:, :600], pixels[:, 600:]
    assert (left != 255).any() and (right != 255).any()


def test_curves_leave_out_missing_values(tmp_path: Path) -> None:
    no_val = [{**r, "val_loss": None, "val_acc": None} for r in ROWS]
    with_val = _pixels(plot_curves(ROWS, tmp_path / "a.png"))
    without = _pixels(plot_curves(no_val, tmp_path / "b.png"))
    assert not np.array_equal(with_val, without)
    # one epoch of training only still draws
    assert _pixels(plot_curves(no_val[:1], tmp_path / "c.png")).shape == (480, 1200, 3)


def test_confusion_matrix_png(tmp_path: Path) -> None:
    matrix = [[5, 1, 0], [2, 3, 0], [0, 0, 0]]  # the last class has no images: no division by zero
    out = plot_confusion(matrix, ["cat", "dog", "frog"], tmp_path / "confusion.png", title="val")
    first = _pixels(out)
    other = _pixels(
        plot_confusion([[0, 6, 0], [5, 0, 0], [0, 0, 0]], ["cat", "dog", "frog"], tmp_path / "o.png")
    )
    assert first.shape == other.shape and not np.array_equal(first, other)
    with pytest.raises(ValueError, match="3×3"):
        plot_confusion([[1, 2], [3, 4]], ["cat", "dog", "frog"], tmp_path / "bad.png")


def test_plots_leave_matplotlib_backend_alone(tmp_path: Path) -> None:
    import matplotlib

    before = matplotlib.get_backend()
    plot_curves(ROWS, tmp_path / "curves.png")
    plot_confusion([[1]], ["only"], tmp_path / "one.png")
    assert matplotlib.get_backend() == before
