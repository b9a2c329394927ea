"""The search structure of a store: its live vectors as a :class:`~lookalike.collection.ann.VectorSource`,
a new structure built over them, and the copy a reader keeps current.

The structure is a cache (rule 4 of :mod:`lookalike.collection.store`): :class:`StructureCache` loads the
saved one once, adds the rows committed since, and builds one in memory from the rows when the file is
missing or unreadable; vectors no longer referenced by a row stay in it as *dead* ones, which searches
over-fetch past and filter out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from lookalike.collection.ann import Structure, build
from lookalike.collection.plan import FLAT_MAX, choose_structure, chunk_rows
from lookalike.collection.records import Progress
from lookalike.collection.store import INSIDE, Store

__all__ = ["StoreSource", "StructureCache", "build_structure"]


class StoreSource:
    """The live vectors of a store as a :class:`lookalike.collection.ann.VectorSource` (ids = vector rows)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ids = store.live_vids()
        self._dim = int(store.meta()["dim"])

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self.ids)

    def chunks(self, rows: int) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        meta = self.store.meta()
        path = self.store.location / meta["vectors_file"]
        count = int(meta["vectors_count"])
        with path.open("rb") as f:
            for start in range(0, count, rows):
                stop = min(count, start + rows)
                lo, hi = np.searchsorted(self.ids, [start, stop])
                if lo == hi:
                    continue
                f.seek(start * 4 * self._dim)
                block = np.fromfile(f, dtype=np.float32, count=(stop - start) * self._dim)
                block = block.reshape(stop - start, self._dim)
                ids = self.ids[lo:hi]
                yield ids, block[ids - start]

    def sample(self, count: int, *, seed: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        rows = np.sort(np.random.default_rng(seed).permutation(len(self.ids))[:count])
        ids = self.ids[rows]
        if len(ids) <= 4096:
            return ids, self.store.read_vectors(ids)
        # many rows (k-means training): one sequential pass, so that the file's pages are not all mapped
        out = np.empty((len(ids), self._dim), dtype=np.float32)
        filled = 0
        for chunk_ids, vectors in self.chunks(chunk_rows(self._dim)):
            keep = np.isin(chunk_ids, ids, assume_unique=True)
            n = int(keep.sum())
            out[filled : filled + n] = vectors[keep]
            filled += n
        return ids, out

    def get(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self.store.read_vectors(np.asarray(ids, dtype=np.int64))


def build_structure(
    store: Store, config: dict[str, Any], progress: Progress | None = None
) -> tuple[Structure, int]:
    """A new search structure over every live vector of ``store``, and the highest vector row in it."""
    source = StoreSource(store)
    plan = choose_structure(
        len(source),
        source.dim,
        memory_budget=config.get("memory_budget"),
        flat_max=int(config.get("flat_max") or FLAT_MAX),
    )
    tell = (lambda d, t: progress("search", d, t)) if progress else None
    return build(plan, source, progress=tell), int(source.ids[-1])


class StructureCache:
    """A reader's search structure, kept current with the committed rows (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # ((catalogue generation, vectors file, search file), structure, highest vector row in it)
        self._structure: tuple[tuple[int, str, str | None], Structure | None, int] | None = None
        self._checked: tuple[tuple[int, int, int], int] | None = None  # (database version, dead vectors)

    def clear(self) -> None:
        self._structure = self._checked = None

    def current(self) -> tuple[Structure | None, int]:
        """The search structure with every committed row in it, and how many dead vectors it holds.

        Loaded from its file once, then kept: rows committed since are added, a missing or unreadable
        file is replaced by a structure built in memory from the rows. Costs one query while nothing
        was committed since the last call.
        """
        store = self.store
        with store.lock:
            version = store.data_version()
            if self._checked is not None and self._checked[0] == version and self._structure is not None:
                return self._structure[1], self._checked[1]
            key, structure, max_vid = self._loaded()
            if structure is not None:
                structure.refine = store.read_vectors
                pending = store.live_vids(after=max_vid)
                if len(pending):
                    structure.add(pending, store.read_vectors(pending))
                    max_vid = int(pending[-1])
            self._structure = (key, structure, max_vid)
            dead = 0 if structure is None else structure.ntotal - store.scalar(INSIDE, (max_vid,))
            self._checked = (version, dead)
            return structure, dead

    def _loaded(self) -> tuple[tuple[int, str, str | None], Structure | None, int]:
        """The structure the meta table points at: the one kept if it is that one, else loaded from its
        file, else built from the rows (``None`` for an empty store)."""
        store = self.store
        for attempt in range(3):
            meta = store.meta()
            search = meta.get("search")
            key = (store.generation, str(meta["vectors_file"]), search["file"] if search else None)
            cached = self._structure
            if cached is not None and cached[0] == key and (cached[1] is not None or not store.count):
                return cached
            structure: Structure | None = None
            max_vid = -1
            if search:
                try:
                    structure = Structure.load(store.location / search["file"], search)
                    max_vid = int(search["max_vector"])
                except Exception:  # missing, truncated or foreign
                    if attempt < 2 and store.meta().get("search") != search:
                        continue  # a writer replaced it meanwhile: load the new one
            if structure is None and store.count:  # rebuilt from the rows
                structure, max_vid = build_structure(store, meta.get("search_config") or {})
            return key, structure, max_vid
        raise AssertionError("unreachable: the last attempt returns")
