"""The one writer of an index: appends rows and vectors, compacts the vectors file, refreshes the search
structure — each step crash-safe by the rules in :mod:`lookalike.collection.store` (rules 1–3).

>>> with idx.writer() as w:  # doctest: +SKIP
...     w.put([Entry("a.jpg", 10, 0, None)], vectors)
...     w.refresh_search()
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lookalike.collection import store as store_module
from lookalike.collection.ann import Structure
from lookalike.collection.disk import fsync_path, short_vectors
from lookalike.collection.plan import FLAT_MAX, choose_structure, chunk_rows
from lookalike.collection.records import Entry, Progress
from lookalike.collection.structure import StoreSource, build_structure

if TYPE_CHECKING:
    from lookalike.collection.index import Index

__all__ = ["Writer"]

_FLUSH_ROWS = 4096
_FLUSH_SECONDS = 2.0
_COMPACT_DEAD = 0.25  # rewrite the vectors file once this fraction of its rows is dead …
_COMPACT_MIN = 10_000  # … and there are at least this many dead rows


class Writer:
    """Appends rows and vectors to an index crash-safely (see :mod:`lookalike.collection.store`). One at a
    time per index: get one from :meth:`Index.writer` (which holds the lock) or :func:`index_folder`.

    Rows are buffered and committed every ``flush_rows`` vectors or ``flush_seconds``, whichever first.
    """

    def __init__(
        self, index: Index, *, flush_rows: int | None = None, flush_seconds: float | None = None
    ) -> None:
        self.index = index
        self.store = index.store
        meta = self.store.meta()
        self.dim = int(meta["dim"])
        self._flush_rows = flush_rows or _FLUSH_ROWS
        self._flush_seconds = _FLUSH_SECONDS if flush_seconds is None else flush_seconds
        self._path = self.store.location / meta["vectors_file"]
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        self._count = int(meta["vectors_count"])
        have = os.fstat(self._fd).st_size // (4 * self.dim)
        if have < self._count:
            os.close(self._fd)
            raise short_vectors(self.store.location, self._path.name, have, self._count)
        os.ftruncate(self._fd, self._count * 4 * self.dim)  # orphans of an interrupted run
        self._remove_unreferenced(meta)
        self._buf = np.empty((self._flush_rows, self.dim), dtype=np.float32)
        self._rows: list[Entry] = []
        self._failed: list[Entry] = []
        self._last = time.monotonic()

    def _remove_unreferenced(self, meta: dict[str, Any]) -> None:
        keep = {meta["vectors_file"], (meta.get("search") or {}).get("file")}
        for path in self.store.location.iterdir():
            name = path.name
            if name.startswith(("vectors-", "search-")) and name not in keep:
                path.unlink(missing_ok=True)

    def put(self, entries: Sequence[Entry], vectors: npt.ArrayLike) -> None:
        """Add or replace the rows ``entries`` (by path) with their raw ``vectors`` (N×dim)."""
        vecs = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(vecs) != len(entries):
            raise ValueError(f"{len(entries)} entries for {len(vecs)} vectors")
        start = 0
        while start < len(entries):
            room = self._flush_rows - len(self._rows)
            take = min(room, len(entries) - start)
            self._buf[len(self._rows) : len(self._rows) + take] = vecs[start : start + take]
            self._rows.extend(entries[start : start + take])
            start += take
            if len(self._rows) == self._flush_rows:
                self.flush()
        self._maybe_flush()

    def fail(self, entries: Iterable[Entry]) -> None:
        """Record files that could not be embedded (``status`` failed, ``error`` set); old vectors go."""
        self._failed.extend(entries)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write buffered vectors, fsync them, then commit their rows in one transaction."""
        n = len(self._rows)
        self._last = time.monotonic()
        if not n and not self._failed:
            return
        if n:
            data, at = memoryview(self._buf[:n].tobytes()), self._count * 4 * self.dim
            while data:  # after a short write (disk full, file-size limit) the next one raises the error
                try:
                    written = os.pwrite(self._fd, data, at)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, str(self._path)) from None
                data, at = data[written:], at + written
            store_module.fsync(self._fd)
        now = time.time()
        rows = [
            (e.path, e.size, e.mtime_ns, e.sha256, e.width, e.height, self._count + j, "ok", None, now)
            for j, e in enumerate(self._rows)
        ] + [
            (e.path, e.size, e.mtime_ns, e.sha256, e.width, e.height, None, "failed", e.error, now)
            for e in self._failed
        ]
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO images(path, size, mtime_ns, sha256, width, height, vector, status, error, "
                "indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, "
                "width = excluded.width, height = excluded.height, vector = excluded.vector, "
                "status = excluded.status, error = excluded.error, indexed_at = excluded.indexed_at",
                rows,
            )
            store_module.write_meta(conn, vectors_count=self._count + n)
        self._count += n
        self._rows.clear()
        self._failed.clear()

    def apply(
        self,
        *,
        remove: Iterable[str] = (),
        touch: Iterable[tuple[str, int, int]] = (),
        move: Iterable[tuple[int, str, int, int]] = (),
    ) -> None:
        """In one transaction: delete rows by path, update ``(path, size, mtime_ns)`` of files whose
        content is unchanged, and give row ids new ``(id, path, size, mtime_ns)`` (renamed files)."""
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM images WHERE path = ?", ((p,) for p in remove))
            conn.executemany(
                "UPDATE images SET size = ?, mtime_ns = ? WHERE path = ?", ((s, m, p) for p, s, m in touch)
            )
            conn.executemany(
                "UPDATE images SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                ((p, s, m, i) for i, p, s, m in move),
            )

    def set_meta(self, **values: Any) -> None:
        """Set keys of the meta table, in a transaction of their own."""
        self.store.set_meta(**values)

    @property
    def vector_rows(self) -> int:
        """Rows of the vectors file the catalogue has committed (live and dead; buffered rows not yet)."""
        return self._count

    def compact_if_wasteful(self) -> int:
        """:meth:`compact` when at least a quarter of the vectors file, and at least 10,000 rows, are dead
        (vectors no row points at); returns how many rows were dropped."""
        dead = self._count - self.store.count
        if dead >= _COMPACT_MIN and dead > _COMPACT_DEAD * self._count:
            return self.compact()
        return 0

    def compact(self) -> int:
        """Rewrite the vectors file without dead rows; returns how many rows were dropped."""
        self.flush()
        source = StoreSource(self.store)
        dead = self._count - len(source)
        if dead <= 0:
            return 0
        name = store_module.new_name("vectors", ".f32")
        path = self.store.location / name
        with path.open("wb") as f:
            for _, vecs in source.chunks(chunk_rows(self.dim)):
                f.write(vecs.tobytes())
            f.flush()
            store_module.fsync(f.fileno())
        fsync_path(self.store.location)
        old_search = (self.store.meta().get("search") or {}).get("file")
        with self.store.transaction() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS remap (old INTEGER PRIMARY KEY, new INTEGER)")
            conn.execute("DELETE FROM remap")
            conn.executemany(
                "INSERT INTO remap(old, new) VALUES (?, ?)", ((int(v), j) for j, v in enumerate(source.ids))
            )
            conn.execute(
                "UPDATE images SET vector = (SELECT new FROM remap WHERE old = images.vector) "
                "WHERE status = 'ok'"
            )
            store_module.write_meta(conn, vectors_file=name, vectors_count=len(source), search=None)
        os.close(self._fd)
        old = self._path
        self._path, self._count = path, len(source)
        self._fd = os.open(path, os.O_RDWR)
        old.unlink(missing_ok=True)
        if old_search:
            (self.store.location / old_search).unlink(missing_ok=True)
        return dead

    def refresh_search(
        self,
        *,
        memory_budget: int | None = None,
        flat_max: int = FLAT_MAX,
        progress: Progress | None = None,
        force: bool = False,
    ) -> dict[str, Any] | None:
        """Bring the search structure up to date with the committed rows and save it; returns its
        description. An approximate structure of the planned kind is updated in place (dead vectors
        removed, new ones added); an exact one, or one whose plan changed, is rebuilt."""
        self.flush()
        store = self.store
        meta = store.meta()
        config = {"memory_budget": memory_budget, "flat_max": flat_max}
        live = store.live_vids()
        current = meta.get("search")
        if not len(live):
            self._point_search(None, meta, config)
            return None
        plan = choose_structure(len(live), self.dim, memory_budget=memory_budget, flat_max=flat_max)
        same = current is not None and not force and current.get("factory") == plan.factory
        same = same and meta.get("search_config") == config
        structure: Structure | None = None
        if current is not None and same:
            max_vid = int(current["max_vector"])
            inside = int(np.count_nonzero(live <= max_vid))
            if int(current["ntotal"]) == inside == len(live):
                return self._describe(current, len(live))  # nothing changed
            if plan.kind != "flat":
                with contextlib.suppress(Exception):
                    structure = Structure.load(store.location / current["file"], current)
            if structure is not None:
                if structure.ntotal > inside:
                    structure.remove(np.setdiff1d(np.arange(max_vid + 1), live[:inside]))
                pending = live[inside:]
                step = chunk_rows(self.dim)
                for start in range(0, len(pending), step):
                    part = pending[start : start + step]
                    structure.add(part, store.read_vectors(part))
                    if progress:
                        progress("search", start + len(part), len(pending))
                max_vid = int(live[-1])
        if structure is None:
            structure, max_vid = build_structure(store, config, progress)
        name = store_module.new_name("search", ".faiss")
        structure.save(store.location / name)
        fsync_path(store.location)
        search = {"file": name, "max_vector": max_vid, **structure.describe()}
        self._point_search(search, meta, config)
        return self._describe(search, len(live))

    def _describe(self, search: dict[str, Any], live: int) -> dict[str, Any]:
        return {**{k: v for k, v in search.items() if k not in ("file", "max_vector")}, "images": live}

    def _point_search(
        self, search: dict[str, Any] | None, meta: dict[str, Any], config: dict[str, Any]
    ) -> None:
        old = (meta.get("search") or {}).get("file")
        self.set_meta(search=search, search_config=config)
        if old and (search is None or old != search["file"]):
            (self.store.location / old).unlink(missing_ok=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
