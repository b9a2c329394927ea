"""The collection store: every image of a folder embedded once, kept in step with the folder, searchable.

:func:`index_folder` embeds a folder's images into an index and, on later runs, only the files that are
new or changed; :class:`Index` opens one to search it (by image file, indexed path, PIL image or vector),
read its rows and vectors, or describe it. Nothing runs as a server: an index is a folder, by default
``PHOTOS/.lookalike``.

The modules, from the outside in:

* :mod:`~lookalike.collection.index` — :class:`Index`, the facade callers hold;
* :mod:`~lookalike.collection.sync` — :func:`index_folder`: scan a folder, compare, embed what is new;
* :mod:`~lookalike.collection.query` — search and re-ranking; :mod:`~lookalike.collection.embedding` —
  the models that embed queries; :mod:`~lookalike.collection.structure` — the search structure a reader
  keeps current; :mod:`~lookalike.collection.ann` — the FAISS structures themselves (exact or IVF);
  :mod:`~lookalike.collection.plan` — which of them fits a collection (size, memory);
* :mod:`~lookalike.collection.store` — the catalogue (SQLite) and vectors file, and the crash-safety
  rules, with :mod:`~lookalike.collection.writer` (the one writer) the only code that changes them;
* :mod:`~lookalike.collection.recovery` — the last good catalogue, recover, repair;
  :mod:`~lookalike.collection.disk` — disk failures as one clear line; :mod:`~lookalike.collection.health`
  — what ``lookalike info`` shows;
* :mod:`~lookalike.collection.reuse` — what an existing index lends to new work (its weights for an
  update, its vectors for dedup);
* :mod:`~lookalike.collection.parquet` — embeddings in and out: :func:`export_parquet` and
  :func:`import_parquet` (Parquet files that pyarrow, DuckDB, pandas and Spark read as they are);
* :mod:`~lookalike.collection.records` — the records (:class:`Entry`, :class:`UpdateReport`,
  :class:`SearchResult`, …); :mod:`~lookalike.collection.location` — file names and :func:`find_index`;
  :mod:`~lookalike.collection.made_by` — what made the vectors.

Names are resolved on first use (importing the package is cheap and cannot form an import cycle).

>>> from lookalike.features import Embedder
>>> report = index_folder("photos", Embedder("../shared/models/resnet18-cifar10.pt"))  # doctest: +SKIP
>>> with Index.open(find_index("photos")) as idx:  # doctest: +SKIP
...     [(h.path.name, round(h.score, 3)) for h in idx.search("photos/cat.jpg", k=2).hits]
[('cat-2.jpg', 0.981), ('cat-7.jpg', 0.954)]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module of this package that defines it
_EXPORTS: dict[str, str] = {
    "INDEX_DIRNAME": "location",
    "default_location": "location",
    "find_index": "location",
    "embedder_meta": "made_by",
    "Entry": "records",
    "Failure": "records",
    "Hit": "records",
    "SearchResult": "records",
    "UpdateReport": "records",
    "Index": "index",
    "Writer": "writer",
    "index_folder": "sync",
    "StorageError": "disk",
    "health": "health",
    "ExportReport": "parquet",
    "ImportReport": "parquet",
    "export_parquet": "parquet",
    "import_parquet": "parquet",
}

__all__ = [
    "INDEX_DIRNAME",
    "Entry",
    "ExportReport",
    "Failure",
    "Hit",
    "ImportReport",
    "Index",
    "SearchResult",
    "StorageError",
    "UpdateReport",
    "Writer",
    "default_location",
    "embedder_meta",
    "export_parquet",
    "find_index",
    "health",
    "import_parquet",
    "index_folder",
]

if TYPE_CHECKING:
    from lookalike.collection.disk import StorageError
    from lookalike.collection.health import health
    from lookalike.collection.index import Index
    from lookalike.collection.location import INDEX_DIRNAME, default_location, find_index
    from lookalike.collection.made_by import embedder_meta
    from lookalike.collection.parquet import ExportReport, ImportReport, export_parquet, import_parquet
    from lookalike.collection.records import Entry, Failure, Hit, SearchResult, UpdateReport
    from lookalike.collection.sync import index_folder
    from lookalike.collection.writer import Writer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lookalike.collection' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lookalike.collection.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*__all__, *globals()]
