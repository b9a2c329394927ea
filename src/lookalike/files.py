"""Files written whole or not at all: :func:`atomic_write` (a temporary file beside the target, fsynced and
renamed over it, so readers see the old file or the new one, never half of one) and :func:`fsync_path`.
The decoded-image cache, checkpoints, training metrics and exported ONNX models are all written by it."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "fsync_path"]


def fsync_path(path: Path) -> None:
    """Flush a file or a folder (its entries: a rename into it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file through ``write(binary_file)`` atomically: to a temporary file beside ``path`` (its
    folder made if needed), fsynced, renamed over ``path``, the rename made durable where the platform
    allows it. On any failure, or an interrupt, ``path`` is as it was and the temporary file is gone.

    >>> atomic_write("notes/a.txt", lambda f: f.write(b"hello"))  # doctest: +SKIP
    PosixPath('notes/a.txt')
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        fsync_path(target.parent)
    return target
