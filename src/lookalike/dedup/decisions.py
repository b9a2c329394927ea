"""Review decisions that outlive a run: "these two are not duplicates" and "keep this file".

A decision names files by the SHA-256 of their bytes (:func:`lookalike.hashing.file_sha256`, the hash the
index keeps per file), so a file that is moved or renamed keeps its decisions, and a copy with the same
bytes shares them. Decisions live in ``decisions.db`` (SQLite) in the index folder of the collection
(``PHOTOS/.lookalike`` by default, :func:`decisions_location`); ``lookalike dedup`` and the page of
``lookalike serve`` both read and write it, so a pair marked on one is kept apart on the other. Every
decision can be taken back (:meth:`Decisions.forget`, :meth:`Decisions.unkeep`).

>>> decisions = Decisions(decisions_location("photos"))  # doctest: +SKIP
>>> decisions.ignore(sha_a, sha_b)  # doctest: +SKIP
>>> decisions.ignored_pairs()  # doctest: +SKIP
{('0b1c…', '9f86…')}
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from lookalike.collection.location import INDEX_DIRNAME, find_index
from lookalike.errors import LookalikeError, StoreError

__all__ = ["DECISIONS_NAME", "Decision", "Decisions", "decisions_location", "pair_key"]

#: The file that holds the decisions, in the index folder.
DECISIONS_NAME = "decisions.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS distinct_pairs (
    a TEXT NOT NULL, b TEXT NOT NULL, decided REAL NOT NULL, a_path TEXT, b_path TEXT,
    PRIMARY KEY (a, b)
);
CREATE TABLE IF NOT EXISTS keepers (sha TEXT PRIMARY KEY, decided REAL NOT NULL, path TEXT);
"""


def pair_key(a: str, b: str) -> tuple[str, str]:
    """The two hashes in the order a pair is stored (the smaller first)."""
    return (a, b) if a <= b else (b, a)


def _checked(sha: str) -> str:
    s = sha.strip().lower()
    if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
        raise LookalikeError(f"{sha[:80]!r} is not a SHA-256 of a file (64 hex digits)")
    return s


@dataclass(frozen=True)
class Decision:
    """One stored decision: ``kind`` ``distinct`` (the files ``a`` and ``b`` are not duplicates) or
    ``keep`` (file ``a`` stays, ``b`` is empty); hashes, the paths they had when decided, and when."""

    kind: str
    a: str
    b: str
    decided: float
    a_path: str | None = None
    b_path: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "a": self.a,
            "b": self.b or None,
            "a_path": self.a_path,
            "b_path": self.b_path,
            "decided": self.decided,
        }


def decisions_location(folder: str | os.PathLike[str]) -> Path:
    """The index folder whose ``decisions.db`` serves the images of ``folder``: the index found for it
    (:func:`lookalike.collection.location.find_index`), else ``folder/.lookalike`` (made when a first
    decision is stored)."""
    try:
        return find_index(folder)
    except StoreError:
        return Path(folder) / INDEX_DIRNAME


class Decisions:
    """The decisions stored in one index folder (thread-safe: one connection per call). Reading a folder
    without decisions finds none and creates nothing; the first decision stored creates the file."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.location = Path(location)
        self.path = self.location / DECISIONS_NAME

    def _connect(self, *, write: bool) -> sqlite3.Connection | None:
        if not write and not self.path.is_file():
            return None
        try:
            if write:
                self.location.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"{self.path}: cannot {'write' if write else 'read'} the review decisions ({exc})",
                hint="check the folder's permissions and free space",
            ) from None
        return conn

    def _run(self, sql: str, args: tuple[object, ...]) -> int:
        conn = self._connect(write=True)
        assert conn is not None
        try:
            with conn:
                return conn.execute(sql, args).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store the decision ({exc})") from None
        finally:
            conn.close()

    def _rows(self, sql: str) -> list[tuple[object, ...]]:
        conn = self._connect(write=False)
        if conn is None:
            return []
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the review decisions ({exc})") from None
        finally:
            conn.close()

    # -- not duplicates -----------------------------------------------------------------------------------

    def ignore(self, a: str, b: str, *, a_path: str | None = None, b_path: str | None = None) -> Decision:
        """Store that the files with hashes ``a`` and ``b`` are not duplicates (again: a no-op)."""
        a, b = _checked(a), _checked(b)
        if a == b:
            raise LookalikeError("the two files have the same bytes: exact copies are always duplicates")
        (a, a_path), (b, b_path) = sorted([(a, a_path), (b, b_path)], key=lambda t: t[0])
        now = time.time()
        self._run(
            "INSERT OR IGNORE INTO distinct_pairs (a, b, decided, a_path, b_path) VALUES (?, ?, ?, ?, ?)",
            (a, b, now, a_path, b_path),
        )
        return Decision("distinct", a, b, now, a_path, b_path)

    def forget(self, a: str, b: str) -> bool:
        """Take back a "not duplicates" decision; ``True`` if there was one."""
        a, b = pair_key(_checked(a), _checked(b))
        return self._run("DELETE FROM distinct_pairs WHERE a = ? AND b = ?", (a, b)) > 0

    def ignored_pairs(self) -> set[tuple[str, str]]:
        """Every pair marked not duplicates, each as :func:`pair_key` orders it."""
        return {(str(a), str(b)) for a, b in self._rows("SELECT a, b FROM distinct_pairs")}

    # -- keepers ------------------------------------------------------------------------------------------

    def keep(self, sha: str, *, path: str | None = None) -> Decision:
        """Store that the file with hash ``sha`` is the one to keep in its group."""
        sha = _checked(sha)
        now = time.time()
        self._run("INSERT OR REPLACE INTO keepers (sha, decided, path) VALUES (?, ?, ?)", (sha, now, path))
        return Decision("keep", sha, "", now, path)

    def unkeep(self, sha: str) -> bool:
        """Take back a "keep this file" decision; ``True`` if there was one."""
        return self._run("DELETE FROM keepers WHERE sha = ?", (_checked(sha),)) > 0

    def keepers(self) -> dict[str, float]:
        """The hashes of files chosen as keepers, with when (the latest choice wins within a group)."""
        return {str(s): float(t) for s, t in self._rows("SELECT sha, decided FROM keepers")}  # type: ignore[arg-type]

    # -- all ----------------------------------------------------------------------------------------------

    def all(self) -> list[Decision]:
        """Every decision, newest first."""
        rows = [
            Decision("distinct", str(a), str(b), float(t), _opt(ap), _opt(bp))  # type: ignore[arg-type]
            for a, b, t, ap, bp in self._rows("SELECT a, b, decided, a_path, b_path FROM distinct_pairs")
        ]
        rows += [
            Decision("keep", str(s), "", float(t), _opt(p))  # type: ignore[arg-type]
            for s, t, p in self._rows("SELECT sha, decided, path FROM keepers")
        ]
        return sorted(rows, key=lambda d: -d.decided)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
