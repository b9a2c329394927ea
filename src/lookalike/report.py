"""Pictures of results: training curves and confusion matrices (PNG files, drawn with matplotlib), and
contact sheets of search results (a PNG grid, or a self-contained HTML page).

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError
from lookalike.images import load_image

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image


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


# ----------------------------------------------------------------------------------------------------------
# Contact sheets: search results as a grid of thumbnails


@dataclass(frozen=True)
class Tile:
    """One picture of a contact sheet: an image file, a caption (e.g. ``#1 · 0.9876``) and a label (e.g.
    its path)."""

    path: Path
    caption: str
    label: str = ""


def _thumbnail(path: Path, side: int) -> Image.Image:
    """The image at ``path`` shrunk to fit ``side``×``side`` (small images are enlarged to it)."""
    from PIL import Image

    img = load_image(path, draft=(side, side))
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
    return img.resize(size, resample)


def contact_sheet_html(
    tiles: Sequence[Tile],
    path: str | os.PathLike[str],
    *,
    title: str,
    query: Tile | None = None,
    thumb: int = 192,
) -> Path:
    """A self-contained HTML page: ``query`` (if any) then ``tiles`` as a grid of thumbnails with captions.

    Thumbnails are embedded as JPEG data URIs, so the page works offline, copied anywhere. A file that
    cannot be read shows its error instead of a picture.
    """
    import base64
    import html
    import io

    def cell(tile: Tile, css: str) -> str:
        try:
            buf = io.BytesIO()
            _thumbnail(tile.path, thumb).save(buf, "JPEG", quality=88)
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            picture = f'<img src="data:image/jpeg;base64,{data}" alt="{html.escape(tile.label)}">'
        except (ImageError, OSError) as exc:
            picture = f'<div class="missing">{html.escape(str(exc))}</div>'
        return (
            f'<figure class="{css}">{picture}<figcaption><b>{html.escape(tile.caption)}</b>'
            f"<span>{html.escape(tile.label)}</span></figcaption></figure>"
        )

    cells = ([cell(query, "query")] if query is not None else []) + [cell(t, "hit") for t in tiles]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }}
h1 {{ font-size: 1.2em; font-weight: 600; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax({thumb + 16}px, 1fr)); gap: 12px; }}
figure {{ margin: 0; padding: 8px; background: #fff; border: 1px solid #ddd; border-radius: 6px; }}
figure.query {{ border: 2px solid #1565c0; }}
img, .missing {{ display: block; width: {thumb}px; height: {thumb}px; object-fit: contain; margin: auto;
  image-rendering: auto; }}
.missing {{ font-size: 11px; color: #b71c1c; overflow: hidden; }}
figcaption {{ margin-top: 6px; text-align: center; }}
figcaption span {{ display: block; font-size: 11px; color: #555; overflow-wrap: anywhere; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<div class="grid">
{chr(10).join(cells)}
</div></body></html>
"""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def contact_sheet_png(
    tiles: Sequence[Tile],
    path: str | os.PathLike[str],
    *,
    title: str,
    query: Tile | None = None,
    columns: int = 6,
    thumb: int = 192,
) -> Path:
    """The same grid as :func:`contact_sheet_html` as a PNG, the query first with a blue frame."""
    import math
    import textwrap
    import warnings

    import numpy as np
    from matplotlib.figure import Figure

    items = ([(query, True)] if query is not None else []) + [(t, False) for t in tiles]
    cols = max(1, min(columns, len(items)))
    rows = max(1, math.ceil(len(items) / cols))
    fig = Figure(figsize=(2.3 * cols, 2.7 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, (tile, is_query) in zip(axes, items, strict=False):
        try:
            ax.imshow(np.asarray(_thumbnail(tile.path, thumb)))
        except (ImageError, OSError) as exc:
            ax.text(
                0.5, 0.5, textwrap.fill(str(exc), 28), ha="center", va="center", fontsize=6, color="#b71c1c"
            )
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#1565c0" if is_query else "#cccccc")
            spine.set_linewidth(3 if is_query else 1)
        ax.set_title(tile.caption, fontsize=9, fontweight="bold")
        label = tile.label if len(tile.label) <= 34 else "…" + tile.label[-33:]
        ax.set_xlabel(label, fontsize=7)
    fig.suptitle(title, fontsize=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font in unusual file names
        return _save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Rows of tiles: duplicate groups, and retrieval results side by side


@dataclass(frozen=True)
class TileRow:
    """One row of :func:`plot_tile_rows`: a heading on its left, tiles, and optional frame colours (any
    matplotlib colour; ``None`` keeps the plain grey frame), one per tile."""

    heading: str
    tiles: Sequence[Tile]
    frames: Sequence[str | None] | None = None


def plot_tile_rows(
    rows: Sequence[TileRow], path: str | os.PathLike[str], *, title: str = "", thumb: int = 96
) -> Path:
    """Rows of thumbnails with captions, a heading per row and coloured frames, to a PNG at ``path``.

    Used for duplicate groups (one group per row) and for retrieval results (a query, then its nearest
    images by one method per row, framed green or red by whether they are of the query's class).
    Small images (e.g. 32×32) are enlarged without smoothing, so their pixels stay visible.

    >>> plot_tile_rows([TileRow("group 1", [Tile(Path("a.jpg"), "keeper"), Tile(Path("b.jpg"), "copy")])],
    ...                "groups.png")  # doctest: +SKIP
    PosixPath('groups.png')
    """
    import textwrap
    import warnings

    import numpy as np
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("plot_tile_rows needs at least one row")
    cols = max(1, max(len(r.tiles) for r in rows))
    side = 1.35
    fig = Figure(figsize=(1.9 + side * cols, (side + 0.45) * len(rows) + (0.45 if title else 0.1)))
    grid = fig.add_gridspec(len(rows), cols + 1, width_ratios=[1.9 / side] + [1.0] * cols, wspace=0.08)
    for r, row in enumerate(rows):
        head = fig.add_subplot(grid[r, 0])
        head.set_axis_off()
        head.text(1.0, 0.5, textwrap.fill(row.heading, 22), ha="right", va="center", fontsize=8)
        for c in range(cols):
            ax = fig.add_subplot(grid[r, c + 1])
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row.tiles):
                ax.set_axis_off()
                continue
            tile = row.tiles[c]
            try:
                ax.imshow(np.asarray(_thumbnail(tile.path, thumb)))
            except (ImageError, OSError) as exc:
                ax.text(0.5, 0.5, textwrap.fill(str(exc), 20), ha="center", va="center", fontsize=5)
            frame = row.frames[c] if row.frames is not None and c < len(row.frames) else None
            for spine in ax.spines.values():
                spine.set_color(frame or "#cccccc")
                spine.set_linewidth(3 if frame else 1)
            ax.set_title(tile.caption, fontsize=7, pad=2)
            if tile.label:
                label = tile.label if len(tile.label) <= 22 else "…" + tile.label[-21:]
                ax.set_xlabel(label, fontsize=6, labelpad=2)
    height = fig.get_figheight()
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.12 / height, va="top")
    fig.subplots_adjust(
        left=0.01, right=0.99, bottom=0.25 / height, top=1 - (0.62 if title else 0.25) / height
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font in unusual file names
        return _save(fig, path)
