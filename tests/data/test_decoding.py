"""Decoding files in worker processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from lookalike.data import decode_files


def test_decoding_in_worker_processes_gives_the_same_pixels(
    make_tree: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "tree", per_class=3)
    files = sorted(root.rglob("*.png"))
    inline, ok_inline, _ = decode_files(files, size=32, workers=0)
    pooled, ok_pooled, _ = decode_files(files, size=32, workers=2)
    assert ok_inline.all() and ok_pooled.all()
    assert torch.equal(inline, pooled)
