"""An index's health, read without trusting it (``lookalike info`` shows it)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from lookalike.collection.disk import copy_info, read_meta, update_command
from lookalike.collection.location import DB_NAME
from lookalike.collection.recovery import check_catalogue

__all__ = ["health"]


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
