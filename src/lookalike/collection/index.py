""":class:`Index`: an open index, the one object callers hold. A facade: its rows and vectors live in a
:class:`~lookalike.collection.store.Store`, its search structure in a
:class:`~lookalike.collection.structure.StructureCache`, the models that embed queries in a
:class:`~lookalike.collection.embedding.QueryEmbedding`, and searching is a
:class:`~lookalike.collection.query.Query`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from lookalike.collection import recovery
from lookalike.collection.disk import translated
from lookalike.collection.embedding import QueryEmbedding
from lookalike.collection.health import describe
from lookalike.collection.made_by import check_same_vectors, embedder_meta
from lookalike.collection.query import Query
from lookalike.collection.records import Entry, SearchResult
from lookalike.collection.store import Store, create_catalogue, open_catalogue, write_lock
from lookalike.collection.structure import StructureCache
from lookalike.collection.writer import Writer
from lookalike.errors import StoreError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from lookalike.features import Backend, Embedder, Engine
    from lookalike.features.onnx import OnnxModel

__all__ = ["Index"]


class Index:
    """An open index: rows, vectors and search. Open with :meth:`open` (after :func:`find_index`), build and
    update with :func:`index_folder` (which remembers its ``exclude`` patterns here: :attr:`exclude`).
    Safe to share between threads; use as a context manager or :meth:`close` it.

    >>> with Index.open("photos/.lookalike") as idx:  # doctest: +SKIP
    ...     idx.count, idx.dim
    (2000, 512)
    """

    def __init__(self, location: Path, conn: sqlite3.Connection) -> None:
        self.location = location
        self.store = Store(location, conn)
        self._structures = StructureCache(self.store)
        self._embedding = QueryEmbedding(self.store)
        self._query = Query(self.store, self._structures, self._embedding)

    # -- opening ------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, location: str | os.PathLike[str]) -> Index:
        """Open the index in folder ``location`` (see :func:`find_index` to find it from a photo folder)."""
        loc = Path(location)
        return cls(loc, open_catalogue(loc))

    @classmethod
    def create(
        cls, location: str | os.PathLike[str], *, root: str | os.PathLike[str], embedder: dict[str, Any]
    ) -> Index:
        """Create an empty index in ``location`` for the folder ``root``; ``embedder`` is
        :func:`embedder_meta` of the embedder that will make its vectors. Call with the write lock held."""
        loc = Path(location)
        return cls(loc, create_catalogue(loc, root=Path(root), embedder=embedder))

    def close(self) -> None:
        with self.store.lock:
            self._structures.clear()
            self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts --------------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The ``meta`` table as a dict (JSON values decoded)."""
        return self.store.meta()

    @property
    def root(self) -> Path:
        """The indexed folder (found beside the index if both moved together)."""
        return self.store.root

    @property
    def dim(self) -> int:
        return int(self.meta()["dim"])

    @property
    def made_by(self) -> dict[str, Any]:
        """What made the vectors (:func:`embedder_meta` of the embedder that built the index)."""
        return dict(self.meta()["embedder"])

    @property
    def exclude(self) -> tuple[str, ...]:
        """The glob patterns :func:`index_folder` leaves out of this index (``("*.tmp", "raw/**")``; the
        rules are :func:`lookalike.scanning.scan_images`'s), as the last run that named them set them; ``()``
        for none. An update without ``exclude`` applies them again."""
        return tuple(self.meta().get("exclude") or ())

    @property
    def count(self) -> int:
        """Searchable images (rows with status ``ok``)."""
        return self.store.count

    @translated
    def entries(self, status: Literal["ok", "failed", "all"] = "ok") -> Iterator[Entry]:
        """Rows in path order (streamed; fine for millions)."""
        yield from self.store.entries(status)

    def entry(self, path: str | os.PathLike[str]) -> Entry | None:
        """The row of an indexed file, by path relative to the folder (or any path that resolves into it)."""
        return self.store.find(path)

    def relpath(self, path: str | os.PathLike[str]) -> str | None:
        """The stored (folder-relative, ``/``-separated) path that ``path`` names, or ``None`` if it names
        no indexed file. ``path`` is a path to the file from here (through symbolic links or not) or, if
        no such file exists here, the stored path itself."""
        return self.store.relpath(path)

    @translated
    def vectors(self, entries: Sequence[Entry]) -> npt.NDArray[np.float32]:
        """Raw vectors of ``entries`` (which must have status ``ok``), as an N×dim float32 array."""
        return self.store.vectors(entries)

    def current_vectors(
        self, paths: Sequence[str | os.PathLike[str]], embedder: Embedder
    ) -> npt.NDArray[np.float32] | None:
        """The stored vectors of ``paths``, one row each in their order, when this index was made by
        ``embedder``'s model, weights and preprocessing and every file is indexed and unchanged since (same
        size and modification time); otherwise ``None`` — embed them instead (or update the index first).
        A file the index could not read (and that is unchanged since) gets a row of zeros: it matches
        nothing, as :func:`lookalike.dedup.find_duplicates` does with a file the network cannot read."""
        try:
            check_same_vectors(self.made_by, embedder_meta(embedder), self.location)
        except StoreError:
            return None
        entries = []
        for path in paths:
            e = self.entry(path)
            if e is None or (e.status == "ok") != (e.vector is not None):
                return None
            try:
                st = Path(path).stat()
            except OSError:
                return None
            if (st.st_size, st.st_mtime_ns) != (e.size, e.mtime_ns):
                return None
            entries.append(e)
        if not entries:
            return None
        out = np.zeros((len(entries), self.dim), dtype=np.float32)
        ok = [i for i, e in enumerate(entries) if e.vector is not None]
        if ok:
            out[ok] = self.vectors([entries[i] for i in ok])
        return out

    def iter_vectors(self, batch: int = 65_536) -> Iterator[tuple[list[Entry], npt.NDArray[np.float32]]]:
        """All searchable rows with their raw vectors, ``batch`` at a time, in path order."""
        chunk: list[Entry] = []
        for entry in self.entries("ok"):
            chunk.append(entry)
            if len(chunk) == batch:
                yield chunk, self.vectors(chunk)
                chunk = []
        if chunk:
            yield chunk, self.vectors(chunk)

    @translated
    def info(self) -> dict[str, Any]:
        """Everything ``lookalike info`` shows: counts, model, structure, sizes on disk, times."""
        return describe(self.store)

    # -- writing ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, **kw: Any) -> Iterator[Writer]:
        """Hold the index's write lock and a :class:`Writer`; buffered rows are committed on exit.

        >>> with idx.writer() as w:  # doctest: +SKIP
        ...     w.put([Entry("a.jpg", 10, 0, None)], vectors)
        ...     w.refresh_search()
        """
        with write_lock(self.location):
            w = Writer(self, **kw)
            try:
                yield w
                w.flush()
            finally:
                w.close()

    def save_copy(self) -> Path:
        """Save the catalogue as its last good copy (``index.db.good``, see
        :func:`lookalike.collection.recovery.save_copy`); returns the copy's path. Call with the write lock
        held (as :func:`index_folder` does after a run that changed the index)."""
        return recovery.save_copy(self.store, self.location)

    # -- embedding queries --------------------------------------------------------------------------------

    def weights_source(self) -> str:
        """What to pass as ``weights`` to make this index's vectors again: the weights file it was built
        with, or the torchvision weights name. Raises :class:`StoreError` for random weights or a weights
        file that is gone."""
        return self._embedding.weights_source()

    def embedder(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        backend: Backend = "auto",
    ) -> Embedder:
        """An :class:`Embedder` that makes vectors comparable with this index's (the same model, weights and
        preprocessing). ``weights`` points at the weights file if it moved since indexing. On the CPU it
        computes in float32 through ONNX Runtime, whatever precision built the index (the model is then
        exported into the index's folder, so later queries need no torch). The last one built is kept:
        later calls without arguments (and :meth:`search`) use it."""
        return self._embedding.embedder(weights, device=device, backend=backend)

    def query_model(self, *, threads: int | None = None, engine: Engine = "onnxruntime") -> OnnxModel | None:
        """The index's own ONNX model (``model.onnx`` in its folder) if it is there and makes this index's
        vectors, else ``None``. With it, queries by image run Pillow, NumPy and ONNX Runtime: no torch.
        ``threads`` (default one per core) and ``engine`` (``"auto"``: OpenVINO bf16 where the CPU computes
        bf16 in hardware, :mod:`lookalike.features.openvino`) are set by the first call."""
        return self._embedding.query_model(threads=threads, engine=engine)

    @property
    def query_backend(self) -> str | None:
        """What embedded the last query by image: ``onnx`` or ``torch`` (``None`` before any)."""
        return self._embedding.backend

    # -- search -------------------------------------------------------------------------------------------

    def query_vector(
        self, query: str | os.PathLike[str] | Image.Image | torch.Tensor | npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], Literal["indexed", "file", "image", "vector"], str | None]:
        """``(raw vector, kind, indexed path or None)`` for a query: an indexed path (its stored vector,
        unless the file changed since), an image file or a PIL image (embedded now by :meth:`embedder`),
        or a vector."""
        return self._query.vector(query)

    @translated
    def search(
        self,
        query: str | os.PathLike[str] | Image.Image | torch.Tensor | npt.ArrayLike,
        *,
        k: int = 10,
        metric: str = "cosine",
        candidates: int | None = None,
        include_self: bool = False,
    ) -> SearchResult:
        """The ``k`` indexed images most like ``query`` (see :meth:`query_vector` for what it may be).

        ``metric`` is ``cosine`` (the search structure's order), or ``l2``, ``l1``, ``mse`` or ``ncc``
        computed on the raw vectors of the ``candidates`` best by cosine (default ``max(10·k, 100)``) to
        re-rank them. An indexed query's own row is left out unless ``include_self``.
        """
        return self._query.search(query, k=k, metric=metric, candidates=candidates, include_self=include_self)

    @translated
    def search_batch(
        self, queries: npt.ArrayLike, *, k: int = 10, skip: Sequence[str | None] | None = None
    ) -> list[list[tuple[float, Entry]]]:
        """Cosine top-``k`` ``(score, entry)`` lists for many raw query vectors (N×dim), searched together;
        ``skip[i]`` is a stored path to leave out of row ``i`` (e.g. the query's own, for neighbour graphs).

        >>> entries, vectors = next(idx.iter_vectors())  # doctest: +SKIP
        >>> neighbours = idx.search_batch(vectors, k=5, skip=[e.path for e in entries])  # doctest: +SKIP
        """
        return self._query.search_batch(queries, k=k, skip=skip)
