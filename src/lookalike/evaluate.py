"""Retrieval quality on a labelled folder: pixels vs deep features, for L1, MSE, cosine and NCC.

The lecture's lesson, measured: held-out query images look for their nearest gallery images, once by raw
pixels and once by ResNet features, with each metric; a neighbour is *relevant* when it has the query's
class. Both spaces start from the same preprocessed tensors (resized, centre-cropped and normalised as the
network sees them — :meth:`Embedder.preprocess`, as in ``lookalike compare``): pixels are the network's
input, features its pooled output.

* **P@k** — the fraction of the k nearest gallery images that share the query's class, averaged over queries.
* **mAP@k** — mean over queries of AP@k = Σᵢ₌₁ᵏ P@i · relᵢ / min(k, R), where relᵢ is 1 when the i-th
  neighbour is relevant and R is the number of relevant gallery images (so a perfect ranking scores 1).
* **kNN accuracy** — the fraction of queries whose k nearest neighbours vote for the right class
  (majority vote; a tie goes to the tied class whose best neighbour ranks highest).

The split is fixed by ``seed``: ``queries`` images, the same share of every class, are queries; the rest
(or ``limit`` of them, drawn evenly from the classes) form the gallery.

>>> from lookalike.evaluate import evaluate
>>> result = evaluate("cifar10/train", weights="resnet18-cifar10.pt",
...                   queries=1000, limit=10_000)  # doctest: +SKIP
>>> result.table["cosine"]["features"]["p_at_k"]  # doctest: +SKIP
0.87
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.data import split_indices, subsample
from lookalike.data.folders import _scan_folder
from lookalike.errors import DataError, ImageError, LookalikeError
from lookalike.features import Embedder, Precision
from lookalike.metrics import METRICS
from lookalike.report import Tile, TileRow, plot_tile_rows

if TYPE_CHECKING:
    import torch

__all__ = ["SPACES", "Evaluation", "draw_examples", "evaluate", "nearest", "retrieval_scores"]

#: ``progress(stage, done, total)``: stage is "embedding" (images) or "ranking" (metric × space runs).
Progress = Callable[[str, int, int], None]

SPACES = ("pixels", "features")


# ----------------------------------------------------------------------------------------------------------
# The measures, on any score matrix


def nearest(
    queries: torch.Tensor, gallery: torch.Tensor, *, metric: str = "cosine", k: int = 10, chunk: int = 500
) -> torch.Tensor:
    """Indices of the ``k`` nearest ``gallery`` rows to each ``queries`` row by ``metric``, best first
    (ties: the lower index first). Rows are flattened; scores come from :mod:`lookalike.metrics`, ``chunk``
    queries at a time.

    >>> import torch
    >>> nearest(torch.tensor([[1.0, 0.1]]), torch.tensor([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]]), k=2)
    tensor([[1, 2]])
    """
    import torch

    if metric not in METRICS:
        raise LookalikeError(f"unknown metric {metric!r}", f"choose from {', '.join(METRICS)}")
    m = METRICS[metric]
    k = min(k, len(gallery))
    g = gallery.flatten(1)
    parts = [
        torch.argsort(
            m.pairwise(queries[i : i + chunk].flatten(1), g),
            dim=1,
            descending=m.higher_is_better,
            stable=True,
        )[:, :k]
        for i in range(0, len(queries), chunk)
    ]
    return torch.cat(parts) if parts else torch.empty(0, k, dtype=torch.int64)


def retrieval_scores(
    neighbours: torch.Tensor, query_labels: torch.Tensor, gallery_labels: torch.Tensor
) -> dict[str, float]:
    """P@k, mAP@k and kNN accuracy from the k nearest gallery indices of each query (Q×k, best first).

    >>> import torch
    >>> gallery = torch.tensor([0, 0, 1, 1])
    >>> retrieval_scores(torch.tensor([[0, 2], [3, 2]]), torch.tensor([0, 1]), gallery)
    {'p_at_k': 0.75, 'map_at_k': 0.75, 'knn_accuracy': 1.0}
    """
    import torch

    if neighbours.ndim != 2 or neighbours.shape[0] != query_labels.shape[0]:
        raise LookalikeError(
            f"neighbours has shape {tuple(neighbours.shape)}",
            f"expected (queries, k) with {query_labels.shape[0]} queries",
        )
    q, k = neighbours.shape
    if q == 0 or k == 0:
        raise LookalikeError("no queries or k = 0: nothing to score")
    hit_labels = gallery_labels[neighbours]  # Q×k
    rel = (hit_labels == query_labels[:, None]).double()
    p_at_k = rel.mean(1)
    precision_at_i = rel.cumsum(1) / torch.arange(1, k + 1, dtype=torch.float64)
    relevant = (gallery_labels[None, :] == query_labels[:, None]).sum(1).clamp(max=k).double()
    ap = (precision_at_i * rel).sum(1) / relevant.clamp_min(1.0)
    n_classes = int(max(int(gallery_labels.max()), int(query_labels.max()))) + 1
    votes = torch.zeros(q, n_classes, dtype=torch.float64)
    votes.scatter_add_(1, hit_labels, torch.ones(q, k, dtype=torch.float64))
    # ties: among the classes with the most votes, the one whose best neighbour ranks highest
    rank_bonus = torch.full((q, n_classes), float(k), dtype=torch.float64)
    ranks = torch.arange(k, dtype=torch.float64).expand(q, k)
    rank_bonus.scatter_reduce_(1, hit_labels, ranks, reduce="amin")
    predicted = (votes * (k + 1) - rank_bonus).argmax(1)
    return {
        "p_at_k": float(p_at_k.mean()),
        "map_at_k": float(ap.mean()),
        "knn_accuracy": float((predicted == query_labels).double().mean()),
    }


# ----------------------------------------------------------------------------------------------------------
# The evaluation


@dataclass
class Evaluation:
    """Scores per metric and space: ``table[metric][space] = {"p_at_k", "map_at_k", "knn_accuracy"}``.

    ``neighbours[(space, metric)]`` holds each query's k nearest gallery indices (best first), and
    ``query_paths`` / ``gallery_paths`` / ``*_labels`` the split, for pictures and further analysis.
    """

    root: str
    k: int
    classes: tuple[str, ...]
    query_paths: list[Path]
    gallery_paths: list[Path]
    query_labels: torch.Tensor
    gallery_labels: torch.Tensor
    table: dict[str, dict[str, dict[str, float]]]
    neighbours: dict[tuple[str, str], torch.Tensor] = field(repr=False)
    model: str = ""
    weights: str = ""
    input_size: int = 0
    precision: str = ""
    backend: str = ""
    seed: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def chance_p_at_k(self) -> float:
        """P@k of a random ranking: Σ over classes of (share of queries) × (share of the gallery)."""
        import torch

        n = len(self.classes)
        qs = torch.bincount(self.query_labels, minlength=n).double() / len(self.query_labels)
        gs = torch.bincount(self.gallery_labels, minlength=n).double() / len(self.gallery_labels)
        return float((qs * gs).sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "k": self.k,
            "queries": len(self.query_paths),
            "gallery": len(self.gallery_paths),
            "classes": list(self.classes),
            "model": self.model,
            "weights": self.weights,
            "input_size": [3, self.input_size, self.input_size],
            "precision": self.precision,
            "backend": self.backend,
            "seed": self.seed,
            "chance_p_at_k": round(self.chance_p_at_k, 4),
            "metrics": self.table,
            "failures": [{"path": str(p), "reason": r} for p, r in self.failures],
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def _split(
    labels: torch.Tensor, queries: int, limit: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(query indices, gallery indices): a class-stratified fixed-seed split, the gallery subsampled."""
    n = len(labels)
    if queries < 1:
        raise LookalikeError(f"queries={queries} must be at least 1", "pass a positive `queries`")
    if queries >= n:
        raise LookalikeError(
            f"queries={queries} leaves no gallery: the folder holds {n} images", "ask for fewer `queries`"
        )
    gallery, query = split_indices(labels, queries / n, seed=seed)
    if limit is not None:
        if limit < 1:
            raise LookalikeError(f"limit={limit} must be at least 1", "pass a positive `limit`")
        gallery = gallery[subsample(labels[gallery], limit, seed=seed)]
    return query, gallery


def _embed_both(
    embedder: Embedder, paths: Sequence[Path], progress: Progress | None
) -> tuple[torch.Tensor, torch.Tensor, list[int], list[tuple[Path, str]]]:
    """Preprocessed tensors (the pixels) and feature vectors of ``paths``; unreadable files are skipped."""
    import torch

    pixels: list[torch.Tensor] = []
    vectors: list[torch.Tensor] = []
    kept: list[int] = []
    failures: list[tuple[Path, str]] = []
    step = embedder.batch_size
    for start in range(0, len(paths), step):
        batch: list[torch.Tensor] = []
        for i in range(start, min(start + step, len(paths))):
            try:
                batch.append(embedder.preprocess(paths[i]))
                kept.append(i)
            except ImageError as exc:
                failures.append((paths[i], str(exc)))
        if batch:
            x = torch.stack(batch)
            pixels.append(x)
            vectors.append(embedder.embed_batch(x))
        if progress:
            progress("embedding", min(start + step, len(paths)), len(paths))
    if not kept:
        raise DataError("none of the images could be read", "see the files' errors")
    return torch.cat(pixels), torch.cat(vectors), kept, failures


def evaluate(
    root: str | os.PathLike[str],
    *,
    embedder: Embedder | None = None,
    weights: str | os.PathLike[str] | None = "DEFAULT",
    model: str | None = None,
    size: int | None = None,
    device: str | None = None,
    precision: Precision = "auto",
    queries: int = 1000,
    limit: int | None = None,
    k: int = 10,
    seed: int = 0,
    metrics: Sequence[str] = tuple(METRICS),
    progress: Progress | None = None,
) -> Evaluation:
    """Retrieval quality of pixels and of features on the labelled folder ``root`` (``root/<class>/…``).

    ``queries`` images (a fixed-seed, class-stratified choice) query the others — or ``limit`` of them —
    with each of ``metrics``; scores are P@k, mAP@k and kNN accuracy (see the module docstring). Pass an
    ``embedder`` to reuse a loaded model; otherwise one is made from ``weights``/``model``/``size``.
    Unreadable images are skipped and listed in :attr:`Evaluation.failures`.

    Cost: every query × gallery pair is scored exactly, for each metric in both spaces; pixel L1 is the
    slow one (about 1 s per 10⁹ pixel differences on 2 cores).
    """
    import torch

    top = _check_arguments(root, k, metrics)
    started = time.perf_counter()
    files, labels, classes = _labelled_files(top)
    query_idx, gallery_idx = _split(labels, queries, limit, seed)
    if len(gallery_idx) < k:
        raise LookalikeError(f"the gallery holds {len(gallery_idx)} images, fewer than k = {k}", "lower `k`")
    emb = embedder or Embedder(weights, model=model, size=size, device=device, precision=precision)

    chosen = torch.cat([query_idx, gallery_idx])
    t0 = time.perf_counter()
    pixels, vectors, kept, failures = _embed_both(emb, [files[int(i)] for i in chosen], progress)
    embed_s = time.perf_counter() - t0
    kept_t = torch.tensor(kept, dtype=torch.int64)
    is_query = kept_t < len(query_idx)
    chosen = chosen[kept_t]
    q_rows, g_rows = is_query.nonzero().flatten(), (~is_query).nonzero().flatten()
    if len(q_rows) == 0 or len(g_rows) < k:
        raise DataError("too many unreadable images: no queries or fewer than k gallery images are left")
    spaces = {"pixels": pixels.flatten(1), "features": vectors}
    q_labels, g_labels = labels[chosen[q_rows]], labels[chosen[g_rows]]

    t0 = time.perf_counter()
    table, neighbours = _rank(
        {space: (data[q_rows], data[g_rows]) for space, data in spaces.items()},
        q_labels,
        g_labels,
        metrics=metrics,
        k=k,
        progress=progress,
    )
    rank_s = time.perf_counter() - t0
    return Evaluation(
        root=str(top),
        k=k,
        classes=tuple(classes),
        query_paths=[files[int(i)] for i in chosen[q_rows]],
        gallery_paths=[files[int(i)] for i in chosen[g_rows]],
        query_labels=q_labels,
        gallery_labels=g_labels,
        table=table,
        neighbours=neighbours,
        model=emb.info.arch + (" (CIFAR stem)" if emb.info.cifar_stem else ""),
        weights=emb.info.source,
        input_size=emb.info.crop_size,
        precision=emb.precision,
        backend=emb.backend,
        seed=seed,
        failures=[(p, r) for p, r in failures],
        seconds={"embedding": embed_s, "ranking": rank_s, "total": time.perf_counter() - started},
    )


def _check_arguments(root: str | os.PathLike[str], k: int, metrics: Sequence[str]) -> Path:
    """``root`` as a path, after checking ``k``, ``metrics`` and that the folder exists."""
    if k < 1:
        raise LookalikeError(f"k={k} must be at least 1", "pass a positive `k`")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise LookalikeError(f"unknown metric {unknown[0]!r}", f"choose from {', '.join(METRICS)}")
    top = Path(root)
    if not top.is_dir():
        raise DataError(f"{root}: no such folder", "pass a folder with one subfolder of images per class")
    return top


def _labelled_files(top: Path) -> tuple[list[Path], torch.Tensor, tuple[str, ...]]:
    """The image files of the class folders under ``top``, their labels and the class names."""
    import torch

    scan = _scan_folder(top)
    return scan.files, torch.tensor(scan.labels, dtype=torch.int64), scan.names


def _rank(
    spaces: dict[str, tuple[torch.Tensor, torch.Tensor]],
    q_labels: torch.Tensor,
    g_labels: torch.Tensor,
    *,
    metrics: Sequence[str],
    k: int,
    progress: Progress | None,
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[tuple[str, str], torch.Tensor]]:
    """For each metric and space (name → (query rows, gallery rows)): the k nearest gallery rows of every
    query and their scores, as ``(table[metric][space], neighbours[(space, metric)])``."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    neighbours: dict[tuple[str, str], torch.Tensor] = {}
    total = len(metrics) * len(spaces)
    for name in metrics:
        table[name] = {}
        for space, (q_data, g_data) in spaces.items():
            nn = nearest(q_data, g_data, metric=name, k=k)
            neighbours[(space, name)] = nn
            table[name][space] = retrieval_scores(nn, q_labels, g_labels)
            if progress:
                progress("ranking", len(neighbours), total)
    return table, neighbours


def draw_examples(
    result: Evaluation,
    path: str | os.PathLike[str],
    *,
    metric: str = "cosine",
    queries: int = 4,
    shown: int = 5,
    seed: int = 0,
) -> Path:
    """A PNG: for ``queries`` queries (one per class while classes last, drawn with ``seed``, not picked
    by result), the query and its ``shown`` nearest gallery images by pixels (one row) and by features
    (the next), framed green when of the query's class and red when not.
    """
    import torch

    if (("pixels", metric) not in result.neighbours) or (("features", metric) not in result.neighbours):
        raise LookalikeError(f"metric {metric!r} was not evaluated", "choose one of the evaluated metrics")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(result.query_paths), generator=g).tolist()
    picked: list[int] = []
    seen: set[int] = set()
    for i in order:  # one query per class first, then any
        if int(result.query_labels[i]) not in seen:
            picked.append(i)
            seen.add(int(result.query_labels[i]))
        if len(picked) == queries:
            break
    picked += [i for i in order if i not in picked][: queries - len(picked)]
    rows = []
    for i in picked:
        label = int(result.query_labels[i])
        for space in SPACES:
            hits = result.neighbours[(space, metric)][i, :shown].tolist()
            tiles = [Tile(result.query_paths[i], "query", result.classes[label])]
            frames: list[str | None] = ["#1565c0"]
            for rank, j in enumerate(hits, 1):
                hit_label = int(result.gallery_labels[j])
                tiles.append(Tile(result.gallery_paths[j], f"#{rank}", result.classes[hit_label]))
                frames.append("#2e7d32" if hit_label == label else "#c62828")
            heading = f"{space}\n({metric})"
            rows.append(TileRow(heading, tiles, frames))
    p_px = result.table[metric]["pixels"]["p_at_k"]
    p_ft = result.table[metric]["features"]["p_at_k"]
    title = (
        f"Nearest gallery images by {metric}: pixels vs {result.model} features "
        f"(P@{result.k} {p_px:.3f} vs {p_ft:.3f}; green = same class)"
    )
    return plot_tile_rows(rows, path, title=title, thumb=64)
