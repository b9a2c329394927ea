"""Searching an index: a query made a vector, its nearest rows by cosine from the search structure, and
re-ranking of those candidates by another metric on the raw vectors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from lookalike.collection.ann import Structure, unit
from lookalike.collection.records import Entry, Hit, SearchResult
from lookalike.errors import StoreError
from lookalike.metrics import METRICS, SEARCH_METRICS

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from lookalike.collection.embedding import QueryEmbedding
    from lookalike.collection.store import Store
    from lookalike.collection.structure import StructureCache

__all__ = ["Query", "QueryKind", "rerank"]

QueryKind = Literal["indexed", "file", "image", "vector"]


class Query:
    """Searches over ``store``: its search structure from ``structures``, queries by image embedded by
    ``embedding``. The methods behind :meth:`lookalike.collection.Index.search` and its siblings."""

    def __init__(self, store: Store, structures: StructureCache, embedding: QueryEmbedding) -> None:
        self.store = store
        self.structures = structures
        self.embedding = embedding

    def vector(
        self, query: str | os.PathLike[str] | Image.Image | torch.Tensor | npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], QueryKind, str | None]:
        """``(raw vector, kind, indexed path or None)`` for a query (see
        :meth:`lookalike.collection.Index.query_vector`)."""
        store = self.store
        if isinstance(query, (str, os.PathLike)):
            path = Path(query)
            entry = store.find(path)
            if entry is not None and entry.status == "ok" and entry.vector is not None:
                on_disk = store.root / entry.path
                try:
                    st = on_disk.stat()
                    fresh = (st.st_size, st.st_mtime_ns) == (entry.size, entry.mtime_ns)
                except OSError:
                    fresh = True  # gone since indexing: the stored vector is all there is
                if fresh or not path.is_file():
                    return store.vectors([entry])[0], "indexed", entry.path
            if path.is_file():
                return self.embedding.embed(path), "file", entry.path if entry else None
            if entry is not None:
                raise StoreError(f"{query}: indexed but failed ({entry.error}); query another image")
            raise StoreError(
                f"{query}: no such image file, and not a path indexed in {store.location}; pass an "
                "image file or a path inside the indexed folder"
            )
        try:
            from PIL import Image as PILImage

            if isinstance(query, PILImage.Image):
                return self.embedding.embed(query), "image", None
        except ImportError:  # pragma: no cover
            pass
        dim = int(store.meta()["dim"])
        arr = np.asarray(query.detach().cpu() if hasattr(query, "detach") else query, dtype=np.float32)
        if arr.ndim != 1 or arr.shape[0] != dim:
            raise StoreError(f"a query vector must have {dim} values, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise StoreError("the query vector contains NaN or inf")
        return arr, "vector", None

    def search(
        self,
        query: str | os.PathLike[str] | Image.Image | torch.Tensor | npt.ArrayLike,
        *,
        k: int,
        metric: str,
        candidates: int | None,
        include_self: bool,
    ) -> SearchResult:
        """The ``k`` best hits for ``query`` (see :meth:`lookalike.collection.Index.search`)."""
        metric = metric.lower()
        if metric not in SEARCH_METRICS:
            raise StoreError(f"unknown metric {metric!r}; choose one of: {', '.join(SEARCH_METRICS)}")
        if k < 1:
            raise StoreError(f"k must be at least 1, got {k}")
        vec, kind, own = self.vector(query)
        skip = None if include_self else own
        pool = k if metric == "cosine" else max(candidates or max(10 * k, 100), k)
        scores, entries, structure = self.nearest(unit(vec)[0], pool, skip)
        higher = True
        if metric != "cosine" and entries:
            scores, entries, higher = rerank(vec, self.store.vectors(entries), entries, metric, k)
        root = self.store.root
        hits = [
            Hit(rank, float(s), root / e.path, e.path, e.width, e.height, e.size)
            for rank, (s, e) in enumerate(zip(scores[:k], entries[:k], strict=True), start=1)
        ]
        return SearchResult(
            query=str(query) if kind in ("indexed", "file") else kind,
            query_kind=kind,
            metric=metric,
            higher_is_better=higher,
            hits=hits,
            structure=structure.plan.factory if structure else "empty",
            exact=bool(structure and structure.plan.exact),
            candidates=None if metric == "cosine" else pool,
            index=self.store.location,
        )

    def search_batch(
        self, queries: npt.ArrayLike, *, k: int, skip: Sequence[str | None] | None
    ) -> list[list[tuple[float, Entry]]]:
        """Cosine top-``k`` lists for many raw vectors (see
        :meth:`lookalike.collection.Index.search_batch`)."""
        dim = int(self.store.meta()["dim"])
        q = unit(np.asarray(queries, dtype=np.float32).reshape(-1, dim))
        if skip is not None and len(skip) != len(q):
            raise ValueError(f"{len(skip)} skip paths for {len(q)} queries")
        structure, dead = self.structures.current()
        out: list[list[tuple[float, Entry]]] = []
        if structure is None or structure.ntotal == 0:
            return [[] for _ in range(len(q))]
        fetch = min(structure.ntotal, k + 1 + dead)
        for start in range(0, len(q), 1024):
            part = q[start : start + 1024]
            scores, ids = structure.search(part, fetch)
            rows = self.store.rows_for(sorted({int(i) for i in ids.ravel() if i >= 0}))
            for r in range(len(part)):
                own = skip[start + r] if skip is not None else None
                hits = [
                    (float(s), rows[int(i)])
                    for s, i in zip(scores[r], ids[r], strict=True)
                    if int(i) in rows and rows[int(i)].path != own
                ][:k]
                if len(hits) < k and fetch < structure.ntotal and bool((ids[r] >= 0).all()):
                    found_s, found_e, _ = self.nearest(part[r], k, own)  # many dead: fetch more
                    hits = list(zip(found_s, found_e, strict=True))
                out.append(hits)
        return out

    def nearest(
        self, q: npt.NDArray[np.float32], k: int, skip: str | None
    ) -> tuple[list[float], list[Entry], Structure | None]:
        """Cosine top-``k`` live rows for unit vector ``q``, over-fetching past dead vectors and ``skip``."""
        structure, dead = self.structures.current()
        if structure is None or structure.ntotal == 0:
            return [], [], structure
        want = k + (1 if skip is not None else 0)
        fetch = min(structure.ntotal, want + dead)
        while True:
            scores, ids = structure.search(q[None, :], fetch)
            found = [int(i) for i in ids[0] if i >= 0]
            rows = self.store.rows_for(found)
            out_s, out_e = [], []
            for s, i in zip(scores[0], ids[0], strict=True):
                e = rows.get(int(i))
                if e is not None and e.path != skip:
                    out_s.append(float(s))
                    out_e.append(e)
            if len(out_e) >= k or fetch >= structure.ntotal or len(found) < fetch:
                return out_s[:k], out_e[:k], structure
            fetch = min(structure.ntotal, 2 * fetch)


def rerank(
    vec: npt.NDArray[np.float32], raw: npt.NDArray[np.float32], entries: list[Entry], metric: str, k: int
) -> tuple[list[float], list[Entry], bool]:
    """The ``k`` best of ``entries`` (raw vectors ``raw``) for ``vec`` by ``metric`` (``l2``, ``l1``,
    ``mse`` or ``ncc``): ``(scores, entries, higher is better)``."""
    if metric == "l2":
        values = np.sqrt(METRICS["mse"].fn(vec, raw).numpy().astype(np.float64) * len(vec))
        higher = False
    else:
        m = METRICS[metric]
        values = m.fn(vec, raw).numpy().astype(np.float64)
        higher = m.higher_is_better
    order = np.argsort(-values if higher else values, kind="stable")[:k]
    return [float(values[i]) for i in order], [entries[i] for i in order], higher
