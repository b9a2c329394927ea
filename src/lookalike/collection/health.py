"""What ``lookalike info`` shows of an index: :func:`describe` (counts, model, search structure, sizes on
disk, times) of an open one, and :func:`health`, read without trusting it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.collection.disk import copy_info, read_meta, update_command
from lookalike.collection.location import DB_NAME
from lookalike.collection.recovery import check_catalogue
from lookalike.features.onnx import INDEX_MODEL_NAME

if TYPE_CHECKING:
    from lookalike.collection.store import Store

__all__ = ["describe", "health"]

# The settings of the embedder that make its preprocessing (``lookalike info`` shows them).
_PREPROCESSING = ("crop_size", "resize_size", "mean", "std", "interpolation")
_INSIDE = "SELECT COUNT(*) FROM images WHERE status = 'ok' AND vector <= ?"


def health(location: str | os.PathLike[str]) -> dict[str, Any]:
    """An index's health, read without trusting it (never raises for a damaged index):

    ``catalogue`` (``ok``, ``damaged: why`` or ``missing``), ``images`` and ``failed`` rows, ``vectors``
    (committed rows, rows present in the file, rows whose vectors are lost), ``copy`` (the last good
    catalogue: images, when saved, or ``None``), and ``search`` (``current``, ``stale`` with how many
    vectors it lacks or holds in vain, ``missing``, or ``none``).

    >>> health("photos/.lookalike")["search"]  # doctest: +SKIP
    {'state': 'current', 'pending': 0, 'dead': 0}
    """
    loc = Path(location)
    db = loc / DB_NAME
    out: dict[str, Any] = {
        "catalogue": "ok",
        "images": None,
        "failed": None,
        "vectors": None,
        "copy": copy_info(loc),
        "search": None,
        "command": None,
    }
    problem: str | None
    try:
        problem = "missing" if not db.is_file() else check_catalogue(db)
    except sqlite3.Error as exc:
        problem = str(exc)
    if problem is not None:
        out["catalogue"] = problem if problem == "missing" else f"damaged: {problem}"
        out["command"] = update_command(loc) if out["copy"] else update_command(loc, extra=" --rebuild")
        return out
    meta = read_meta(db) or {}
    conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=30.0)
    try:
        ok = int(conn.execute("SELECT COUNT(*) FROM images WHERE status = 'ok'").fetchone()[0])
        out["images"] = ok
        out["failed"] = int(conn.execute("SELECT COUNT(*) FROM images WHERE status = 'failed'").fetchone()[0])
        dim = int(meta.get("dim", 0) or 0)
        count = int(meta.get("vectors_count", 0) or 0)
        try:
            present = (loc / str(meta.get("vectors_file"))).stat().st_size // (4 * dim) if dim else 0
            file_ok = True
        except OSError:
            present, file_ok = 0, False
        usable = min(count, present)
        lost = int(
            conn.execute(
                "SELECT COUNT(*) FROM images WHERE status = 'ok' AND (vector IS NULL OR vector >= ?)",
                (usable,),
            ).fetchone()[0]
        )
        out["vectors"] = {"committed": count, "present": min(present, count), "lost": lost, "file": file_ok}
        search = meta.get("search")
        if not search:
            out["search"] = {"state": "none" if not ok else "missing", "pending": ok, "dead": 0}
        else:
            max_vid = int(search["max_vector"])
            inside = int(
                conn.execute(
                    "SELECT COUNT(*) FROM images WHERE status = 'ok' AND vector <= ?", (max_vid,)
                ).fetchone()[0]
            )
            pending, dead = ok - inside, int(search["ntotal"]) - inside
            state = "current" if pending == 0 and dead == 0 else "stale"
            if not (loc / str(search["file"])).is_file():
                state = "missing"
            out["search"] = {"state": state, "pending": pending, "dead": dead}
    finally:
        conn.close()
    if lost:
        out["command"] = update_command(loc, extra=" --repair")
    elif out["copy"] is None and ok:
        out["command"] = update_command(loc)
    return out


def describe(store: Store) -> dict[str, Any]:
    """Everything ``lookalike info`` shows of the index open in ``store``: counts, exclude patterns, model,
    structure, sizes on disk, times (:meth:`lookalike.collection.Index.info`)."""
    meta = store.meta()
    d = meta["embedder"]
    live = store.count
    failed = store.scalar("SELECT COUNT(*) FROM images WHERE status = 'failed'")
    search = meta.get("search")
    structure: dict[str, Any] | None = None
    if search:
        max_vid = int(search["max_vector"])
        inside = store.scalar(_INSIDE, (max_vid,))
        structure = {
            **{k: v for k, v in search.items() if k not in ("file", "max_vector")},
            "pending": live - inside,
            "dead": int(search["ntotal"]) - inside,
        }
    sizes = {
        "database": sum(_size(store.location / n) for n in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")),
        "vectors": _size(store.location / meta["vectors_file"]),
        "search": _size(store.location / search["file"]) if search else 0,
    }
    sizes["total"] = sum(sizes.values())
    return {
        "location": str(store.location.absolute()),
        "root": str(store.root),
        "images": live,
        "failed": failed,
        "exclude": list(meta.get("exclude") or []),
        "dim": int(meta["dim"]),
        "model": d.get("model"),
        "cifar_stem": d.get("cifar_stem"),
        "weights": d.get("weights"),
        "weights_location": d.get("weights_location"),
        "fingerprint": d.get("fingerprint"),
        "precision": ", ".join(p for p in meta.get("precisions", []) if p),
        "backend": (meta.get("last_run") or {}).get("backend") or d.get("backend") or "torch",
        "model_file": _size(store.location / INDEX_MODEL_NAME) or None,
        "preprocessing": {k: d.get(k) for k in _PREPROCESSING},
        "vectors_rows": int(meta["vectors_count"]),
        "dead_vectors": int(meta["vectors_count"]) - live,
        "search": structure,
        "disk_bytes": sizes,
        "created": meta.get("created"),
        "updated": meta.get("updated"),
        "last_run": meta.get("last_run"),
    }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
