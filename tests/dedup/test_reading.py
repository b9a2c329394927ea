"""Reading a collection once: files read in batches, measured together, in threads or forked workers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lookalike.dedup.reading as reading
from format_files import photo
from lookalike.dedup.reading import read_all, read_batch, read_one
from lookalike.forked import processes_for


def folder(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        p = tmp_path / f"{i:03d}.png"
        photo(32 + (i % 3) * 8, 32, seed=i).save(p)
        paths.append(p)
    return paths


class Recorder:
    """A measure that records each call's pictures and answers with their sizes."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, pictures: Sequence[Image.Image], sizes: Sequence[tuple[int, int]]) -> list[object]:
        self.calls.append(len(pictures))
        return [(p.size, s) for p, s in zip(pictures, sizes, strict=True)]


def test_a_batch_says_why_a_file_is_unreadable_in_its_place_and_measures_the_rest_once(
    tmp_path: Path,
) -> None:
    paths = folder(tmp_path, 4)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    gone = tmp_path / "gone.png"
    measure = Recorder()
    out = read_batch([paths[0], broken, paths[1], gone, paths[2]], measure)
    assert measure.calls == [3]
    assert [isinstance(r, str) for r in out] == [False, True, False, True, False]
    assert "broken.png" in str(out[1]) and "gone.png" in str(out[3])
    for r, p in zip([out[0], out[2], out[4]], [paths[0], paths[1], paths[2]], strict=True):
        assert not isinstance(r, str)
        assert r.facts.path == p
        assert r.measured == ((r.facts.width, r.facts.height), (r.facts.width, r.facts.height))
        assert r.facts.bytes == p.stat().st_size
    one = read_one(paths[1], measure)
    assert one.measured == out[2].measured  # type: ignore[union-attr]


def _same(a: reading.Collection, b: reading.Collection) -> None:
    assert [f.path for f in a.files] == [f.path for f in b.files]
    assert np.array_equal(a.whole, b.whole)
    assert a.measured == b.measured
    assert all(x is None or y is None or np.array_equal(x, y) for x, y in zip(a.fines, b.fines, strict=True))
    assert a.failures == b.failures


def test_small_files_read_in_batches_give_what_one_by_one_gives(tmp_path: Path) -> None:
    paths = folder(tmp_path, 150)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    paths.insert(70, tmp_path / "bad.png")
    measure = Recorder()
    batched = read_all(paths, measure=measure)
    assert max(measure.calls) > 1  # (small files: many a call)
    single = read_all(paths, workers=4, measure=Recorder())  # (threads: one file a task)
    _same(batched, single)
    assert [p for p, _ in batched.failures] == [tmp_path / "bad.png"]
    assert len(batched.files) == 150


@pytest.mark.skipif(not processes_for(10**6, 1), reason="forks on Linux with two cores or more")
def test_small_files_read_in_forked_workers_give_what_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = folder(tmp_path, 200)
    alone = read_all(paths, workers=1, measure=Recorder())
    monkeypatch.setattr(reading, "FORK_LEAST", 1)
    forked = read_all(paths, measure=Recorder())
    _same(alone, forked)
