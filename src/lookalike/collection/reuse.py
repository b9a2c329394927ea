"""What an existing index lends to new work: its weights for an update, its vectors for dedup.

Both the command line and Python callers (a notebook, the web page) ask the same two questions:

* :func:`update_settings` — which weights, model and input size rebuild or update an index when the caller
  names no weights (the ones it was made with, restoring a damaged catalogue from its last good copy so that
  the copy can say which);
* :func:`stored_vectors` — whether an up-to-date index of a folder, made with the caller's embedder, already
  holds the vectors of the folder's images, which spares embedding them again.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.collection.disk import StorageError
from lookalike.collection.index import Index
from lookalike.collection.location import COPY_NAME, DB_NAME, find_index
from lookalike.collection.recovery import restore_if_damaged
from lookalike.errors import LookalikeError
from lookalike.scanning import Skipped, scan_images

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import numpy.typing as npt

    from lookalike.features import Embedder

__all__ = ["StoredVectors", "UpdateSettings", "stored_vectors", "update_settings"]

DEFAULT_WEIGHTS = "DEFAULT"


@dataclass(frozen=True)
class UpdateSettings:
    """The embedder settings for indexing a folder again: pass them to :class:`lookalike.features.Embedder`.

    ``restored`` is the line :func:`lookalike.collection.recovery.restore_if_damaged` said when it had to put
    the last good copy of a damaged catalogue in place (``None`` when nothing was restored).
    """

    weights: str
    model: str | None = None
    size: int | None = None
    restored: str | None = None


def update_settings(
    location: str | os.PathLike[str],
    *,
    model: str | None = None,
    size: int | None = None,
    rebuild: bool = False,
) -> UpdateSettings:
    """The weights (and model and input size, unless given) to index again with when none are named.

    An existing index at ``location`` is updated with the weights it was made with (its
    :meth:`~lookalike.collection.Index.weights_source`), its model and its crop size; ``model`` and ``size``,
    when given, win. With ``rebuild``, or where there is no index yet, the answer is ``DEFAULT`` weights.
    A damaged or missing catalogue with a last good copy is restored first (the copy names the weights);
    without one the :class:`~lookalike.collection.StorageError` is raised. Also raises
    :class:`~lookalike.errors.StoreError` when the weights cannot be made again (random weights, or a
    weights file that is gone).

    >>> update_settings("photos/.lookalike")  # doctest: +SKIP
    UpdateSettings(weights='/models/resnet18-cifar10.pt', model='resnet18', size=32, restored=None)
    """
    where = Path(location)
    if rebuild or not ((where / DB_NAME).is_file() or (where / COPY_NAME).is_file()):
        return UpdateSettings(DEFAULT_WEIGHTS, model, size)
    restored = None
    try:
        with Index.open(where) as existing:
            existing.made_by  # noqa: B018  # reads the catalogue: raises if it is damaged
    except StorageError as exc:
        if exc.kind not in ("damaged", "missing"):
            raise
        restored = restore_if_damaged(where)  # its copy says which weights made it
        if restored is None:
            raise
    with Index.open(where) as existing:
        made_by = existing.made_by
        return UpdateSettings(
            existing.weights_source(),
            model or made_by.get("model"),
            size or made_by.get("crop_size"),
            restored,
        )


@dataclass(frozen=True)
class StoredVectors:
    """The vectors an index holds for ``paths`` (one row each, in their order) and where that index is."""

    paths: list[Path]
    vectors: npt.NDArray[np.float32]
    location: Path
    skipped: Skipped = field(default_factory=Skipped)  # what the folder's scan passed over


def stored_vectors(
    folder: str | os.PathLike[str], embedder: Embedder, *, exclude: Sequence[str] = ()
) -> StoredVectors | None:
    """The vectors of every image of ``folder`` from its index, when the index is up to date for them.

    The index is the one :func:`~lookalike.collection.find_index` finds for ``folder``; it lends its vectors
    when ``embedder`` would make the same ones (model, weights and preprocessing) and every image of the
    folder is indexed and unchanged since (:meth:`~lookalike.collection.Index.current_vectors`). Otherwise —
    no index, another model, a new or changed file, an index that cannot be read — ``None``: embed the
    images instead. Pass the result's ``paths`` and ``vectors`` to
    :func:`lookalike.dedup.find_duplicates`.

    ``exclude`` leaves files and folders out of the folder's listing by glob pattern
    (:func:`lookalike.scanning.scan_images`): their rows, indexed or not, are not in the result, whatever
    patterns the index itself excludes.

    >>> found = stored_vectors("photos", embedder)  # doctest: +SKIP
    >>> find_duplicates(found.paths, vectors=found.vectors) if found else find_duplicates(  # doctest: +SKIP
    ...     "photos", embedder=embedder)
    """
    with contextlib.suppress(LookalikeError), Index.open(find_index(folder)) as idx:
        scan = scan_images(folder, exclude=exclude)  # listed once, for the index and for the search
        vectors = idx.current_vectors(scan.paths, embedder)
        if vectors is not None:
            return StoredVectors(scan.paths, vectors, idx.location, scan.skipped)
    return None
