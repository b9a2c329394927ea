"""Pictures of results: training curves and confusion matrices (PNG files, drawn with matplotlib).

Each function draws on its own ``matplotlib.figure.Figure`` with the Agg canvas — no pyplot, no global
backend switch, safe in worker threads and on machines without a display — and writes one file.

>>> from lookalike.report import plot_curves, plot_confusion
>>> plot_curves([{"epoch": 1, "train_loss": 1.2, "val_loss": 1.1, "train_acc": 0.6, "val_acc": 0.62}],
...             "curves.png")  # doctest: +SKIP
PosixPath('curves.png')
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(target, dpi=120)
    return target


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of the rows that have a number under ``key``."""
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)):
            xs.append(float(row["epoch"]))
            ys.append(float(value))
    return xs, ys


def plot_curves(
    metrics: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Loss (left) and accuracy in % (right) per epoch, training and validation, to a PNG at ``path``.

    ``metrics`` holds one mapping per epoch with ``epoch`` and any of ``train_loss``, ``val_loss``,
    ``train_acc``, ``val_acc`` (accuracies as fractions in [0, 1]); missing values are left out.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "-o"), ("val", "-s")):
        label = "training" if split == "train" else "validation"
        xs, ys = _series(metrics, f"{split}_loss")
        if xs:
            loss_ax.plot(xs, ys, style, label=label, markersize=3)
        xs, ys = _series(metrics, f"{split}_acc")
        if xs:
            acc_ax.plot(xs, [100 * y for y in ys], style, label=label, markersize=3)
    for ax, name in ((loss_ax, "loss (cross-entropy)"), (acc_ax, "accuracy (%)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(
    matrix: Sequence[Sequence[int]],
    classes: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """A confusion matrix (rows: true class, columns: predicted class) to a PNG at ``path``.

    Cells are coloured by the fraction of the true class's images (each row sums to 1) and show the
    image counts; the row labels carry each class's accuracy.
    """
    import numpy as np
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.int64)
    k = len(classes)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix is {counts.shape}, expected {k}×{k} for {k} classes")
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    side = max(4.0, 0.55 * k + 2.5)
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    rows = [
        f"{name} ({100 * fractions[i, i]:.0f}%)" if totals[i, 0] else name for i, name in enumerate(classes)
    ]
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=rows)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (accuracy)")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        str(counts[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if fractions[i, j] > 0.5 else "black",
                    )
    total = int(counts.sum())
    correct = int(np.trace(counts))
    heading = f"accuracy {100 * correct / total:.1f}% of {total:,} images" if total else "no images"
    ax.set_title(f"{title} — {heading}" if title else heading)
    return _save(fig, path)
