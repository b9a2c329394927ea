"""What an index records of a file besides its vector: the SHA-256 of its bytes and its size in pixels.

Read by the indexing process itself (:mod:`lookalike.collection.sync`) or, with ``--ray``, by the Ray
workers (:mod:`lookalike.collection.distributed`), so that the driver reads no image bytes."""

from __future__ import annotations

from pathlib import Path

from lookalike.errors import ImageError
from lookalike.hashing import file_sha256
from lookalike.images import image_size

__all__ = ["file_facts", "quiet_sha256"]


def quiet_sha256(path: str | Path) -> str | None:
    """The SHA-256 of a file's bytes, ``None`` where it cannot be read (the embedding reports why)."""
    try:
        return file_sha256(path)
    except OSError:
        return None


def file_facts(path: Path) -> tuple[str | None, int | None, int | None]:
    """``(sha256, width, height)`` of a file; ``None`` where it cannot be read (the embedding reports why)."""
    sha = quiet_sha256(path)
    try:
        width, height = image_size(path)
    except (ImageError, OSError, ValueError):
        return sha, None, None
    return sha, width, height
