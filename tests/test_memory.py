"""Giving freed memory back to the system (lookalike.memory)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lookalike import memory


def _rss_kb() -> int:
    with Path("/proc/self/status").open() as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux only")
def test_freed_heap_memory_goes_back_to_the_system() -> None:
    np = pytest.importorskip("numpy")
    if not memory.release_memory():
        pytest.skip("not glibc")
    big = np.ones(16 << 20, np.uint8)  # once freed, glibc serves arrays up to 16 MB from its heap
    del big
    blocks, pins = [], []
    for _ in range(24):  # 8 MB arrays, each followed by a small one that stays: holes the heap keeps
        blocks.append(np.ones(8 << 20, np.uint8))
        pins.append(np.ones(256 << 10, np.uint8))
    del blocks
    before = _rss_kb()
    assert memory.release_memory()
    after = _rss_kb()
    assert before - after > 64 << 10, f"RSS {before} kB before and {after} kB after"
    del pins


def test_without_glibc_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    memory._trim.cache_clear()
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: None)
    try:
        assert memory.release_memory() is False
    finally:
        memory._trim.cache_clear()
