"""File digests: the one function that identifies a file by its bytes (weights fingerprints, the index's
change detection, exact copies in dedup)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes as hex, read 1 MB at a time. Raises ``OSError`` when unreadable.

    >>> file_sha256("weights.pt")  # doctest: +SKIP
    '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
