"""Embedding queries the way an index's vectors were made: its own ONNX model when it has one (no torch),
else an :class:`~lookalike.features.Embedder` with the same model, weights and preprocessing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lookalike.collection.made_by import check_same_vectors, embedder_meta
from lookalike.errors import LookalikeError, StoreError
from lookalike.features import Embedder
from lookalike.features.devices import queries_in_float32
from lookalike.features.onnx import INDEX_MODEL_NAME, OnnxModel, find_model

if TYPE_CHECKING:
    from PIL import Image

    from lookalike.collection.store import Store
    from lookalike.features import Backend, Engine

__all__ = ["QueryEmbedding"]


class QueryEmbedding:
    """The models that embed queries for the index in ``store``, loaded on first use and kept."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._embedder: Embedder | None = None
        self._query_model: OnnxModel | None = None
        self.backend: str | None = None  # what embedded the last query by image: onnx or torch

    @property
    def made_by(self) -> dict[str, Any]:
        return dict(self.store.meta()["embedder"])

    def weights_source(self) -> str:
        """What to pass as ``weights`` to make this index's vectors again (see
        :meth:`lookalike.collection.Index.weights_source`)."""
        d = self.made_by
        location = self.store.location
        source = str(d.get("weights", ""))
        if str(d.get("fingerprint", "")).startswith("random"):
            raise StoreError(
                f"{location} was built with random weights, which cannot be made again to embed a new image",
                hint="query by an indexed path, or rebuild the index with real `weights`",
            )
        if source.startswith("file:"):
            path = str(d.get("weights_location") or source.removeprefix("file:"))
            if not Path(path).is_file():
                raise StoreError(
                    f"{location} was built with the weights file {path}, which is gone",
                    hint=f"pass `weights=PATH` to that file ({d.get('fingerprint')})",
                )
            return path
        return source.removeprefix("torchvision:")

    def embedder(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        backend: Backend = "auto",
    ) -> Embedder:
        """An :class:`Embedder` making vectors comparable with the index's (see
        :meth:`lookalike.collection.Index.embedder`); the last one built is kept."""
        if self._embedder is not None and weights is None and device is None and backend == "auto":
            return self._embedder
        d = self.made_by
        if weights is None:
            weights = self.weights_source()
        precision: Any = d.get("precision") or "auto"
        if queries_in_float32(device, backend):  # whatever made the index: ONNX Runtime, exported once
            precision = "float32"
        try:
            emb = Embedder(
                weights,
                model=d.get("model"),
                size=d.get("crop_size"),
                device=device,
                precision=precision,
                backend=backend,
            )
        except LookalikeError:
            emb = Embedder(
                weights, model=d.get("model"), size=d.get("crop_size"), device=device, backend=backend
            )
        check_same_vectors(d, embedder_meta(emb), self.store.location)
        if emb.backend == "onnx":  # exported into the index's folder: later queries need no torch
            emb.use_model_file(self.store.location / INDEX_MODEL_NAME, d)
        self._embedder = emb
        return emb

    def query_model(self, *, threads: int | None = None, engine: Engine = "onnxruntime") -> OnnxModel | None:
        """The index's own ONNX model, or ``None`` (see :meth:`lookalike.collection.Index.query_model`)."""
        if self._query_model is None:
            self._query_model = find_model(
                self.store.location / INDEX_MODEL_NAME, self.made_by, threads=threads, engine=engine
            )
        return self._query_model

    def embed(self, image: str | os.PathLike[str] | Image.Image) -> npt.NDArray[np.float32]:
        """One image's raw vector: by :meth:`query_model` unless :meth:`embedder` was set up (or there is
        no exported model yet: then the embedder exports one into the index, once)."""
        own = self._embedder is None or self._embedder.backend == "onnx"  # the same vectors either way
        if own and (model := self.query_model()) is not None:
            vec: npt.NDArray[np.float32] = model.embed([image])[0]
            self.backend = "onnx"
            return vec
        emb = self.embedder()
        self.backend = emb.backend
        return emb.embed([image])[0].numpy().astype(np.float32)
