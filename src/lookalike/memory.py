"""Giving freed memory back to the system between the stages of a long run.

NumPy frees its arrays, but glibc's allocator keeps many freed blocks in the process (a large array
freed raises the size below which later arrays come from the heap), so the resident size of a run that
makes many mid-sized arrays grows past what it holds. :func:`release_memory` asks glibc to return the
free parts of the heap (``malloc_trim``); elsewhere (macOS, musl, Windows) it does nothing.

>>> release_memory() in (True, False)
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

__all__ = ["release_memory"]


@cache
def _trim() -> ctypes._NamedFuncPointer | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_memory() -> bool:
    """Return the free memory of the heap to the system (glibc only); whether anything could be asked."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
