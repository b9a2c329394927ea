"""The decoded-image cache: where it lives (:func:`cache_dir`), its keys, reading it back, and writing
files atomically (:func:`atomic_save`, :func:`atomic_write`) so readers never see half a file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lookalike.data.imageset import CACHE_ENV, CACHE_FORMAT, CACHE_VERSION, ImageSet
from lookalike.files import atomic_write as atomic_write


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where decoded images (and a downloaded CIFAR-10) are kept: ``override``, ``$LOOKALIKE_CACHE``,
    ``$XDG_CACHE_HOME/lookalike`` or ``~/.cache/lookalike``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lookalike"


def _from_cache(payload: dict[str, Any], source: str, target: Path) -> ImageSet:
    return ImageSet(
        payload["images"],
        payload["labels"],
        tuple(payload["classes"]),
        source,
        payload["key"],
        tuple(payload["files"]),
        tuple((str(p), str(r)) for p, r in payload["skipped"]),
        target,
        cached=True,
    )


def _slug(path: Path) -> str:
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:40]
    return name or "data"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _folder_key(
    files: Sequence[Path], rel: Sequence[str], classes: Sequence[str], size: int, resize: int
) -> str:
    h = hashlib.sha256(f"{CACHE_FORMAT}\0{CACHE_VERSION}\0{size}\0{resize}\0{'/'.join(classes)}\n".encode())
    for path, name in zip(files, rel, strict=True):
        try:
            st = path.stat()
            h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{name}\0missing\n".encode())
    return h.hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, Any] | None:
    """The cache payload at ``path`` if it is whole and made for ``key``, else ``None`` (decode again)."""
    import torch

    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # truncated or foreign: decode again and overwrite it
        return None
    if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT or obj.get("key") != key:
        return None
    if obj.get("version") != CACHE_VERSION:
        return None
    return obj


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: readers never see half a file."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))
