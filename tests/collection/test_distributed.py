"""Embedding on Ray (lookalike.collection.distributed): a local 2-CPU Ray instance, started once for the
module, embeds like the single process does — same vectors, same failures, same index, same search —
and a driver killed with SIGKILL mid-run leaves an index that a run without Ray finishes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collection.index_support import assert_consistent, rows, vectors, write_images
from lookalike.collection import Index, index_folder
from lookalike.collection.distributed import iter_files
from lookalike.features import Embedder
from pixel_embedder import PixelEmbedder

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'lookalike[ray]')")

pytestmark = pytest.mark.slow
TESTS = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray instance of 2 CPUs for this module; its address, for a second driver to join. Its workers
    inherit a PYTHONPATH with tests/ in it: the test double is unpickled there."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS, saved) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        object_store_memory=256 * 2**20,
    )
    if saved is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = saved
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def folder_with_a_bad_file(folder: Path, n: int, bad: int = 1) -> list[Path]:
    """``n`` pictures and ``bad`` corrupt files, listed by name: the corrupt ones after the 16th picture
    (with a batch size of 8 and ``bad=8``, a batch of nothing but failures)."""
    paths = write_images(folder, [f"{i:03d}.png" for i in range(n)])
    for k in range(bad):
        (folder / f"016-bad-{k}.jpg").write_bytes(b"\xff\xd8\xff this is not a JPEG")
    return sorted([*paths, *folder.glob("*-bad-*.jpg")])


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def collect(batches: Iterator[object]) -> tuple[list[int], np.ndarray, list[tuple[int, str]]]:
    indices: list[int] = []
    parts: list[np.ndarray] = []
    failures: list[tuple[int, str]] = []
    for b in batches:
        assert list(b.indices) == sorted(b.indices)  # type: ignore[attr-defined]
        indices += b.indices  # type: ignore[attr-defined]
        parts.append(np.asarray(b.vectors, dtype=np.float32))  # type: ignore[attr-defined]
        failures += b.failures  # type: ignore[attr-defined]
    return indices, np.concatenate(parts), failures


def test_ray_embeds_like_the_single_process(cluster: str, embedder: Embedder, tmp_path: Path) -> None:
    """A few dozen images and a batch of corrupt files: the same indices in the same order, vectors with
    cosine ≥ 0.9999, the same failures with the same messages."""
    paths = folder_with_a_bad_file(tmp_path / "photos", 40, bad=8)
    single = collect(embedder.iter_files(paths))
    on_ray = collect(iter_files(embedder, paths, address=cluster))
    assert on_ray[0] == single[0] and len(single[0]) == 40
    assert cosines(on_ray[1], single[1]).min() >= 0.9999
    assert on_ray[2] == single[2] and [i for i, _ in single[2]] == list(range(16, 24))
    assert "016-bad-0.jpg" in single[2][0][1]


def test_a_picklable_test_double_runs_as_is(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an Embedder: pickled to the actors and used as is (relative paths, messages as given)."""
    paths = folder_with_a_bad_file(tmp_path / "photos", 12)
    monkeypatch.chdir(tmp_path)
    relative = [p.relative_to(tmp_path) for p in paths]
    double = PixelEmbedder(batch_size=5)
    single = collect(double.iter_files(relative))
    on_ray = collect(iter_files(double, relative, address=cluster, concurrency=2))
    assert on_ray[0] == single[0]
    np.testing.assert_array_equal(on_ray[1], single[1])
    assert on_ray[2] == single[2] and single[2][0][1].startswith("photos")


def test_a_worker_that_dies_is_replaced_and_its_batch_run_again(cluster: str, tmp_path: Path) -> None:
    """The first batch kills its actor's process: Ray restarts the actor and runs the batch again."""
    paths = folder_with_a_bad_file(tmp_path / "photos", 20)
    marker = tmp_path / "died"

    class Dying(PixelEmbedder):  # (defined here: pickled by value, with its closure)
        def iter_files(self, paths: Any) -> Any:
            if not marker.exists():
                marker.touch()
                os._exit(1)
            return super().iter_files(paths)

    single = collect(PixelEmbedder(batch_size=5).iter_files(paths))
    on_ray = collect(iter_files(Dying(batch_size=5), paths, address=cluster, concurrency=2))
    assert marker.exists()
    assert on_ray[0] == single[0] and on_ray[2] == single[2]
    np.testing.assert_array_equal(on_ray[1], single[1])


def test_a_few_files_are_embedded_here_without_ray(tmp_path: Path) -> None:
    """Fewer than two batches: no Ray (the address leads nowhere), the embedder's own batches."""
    paths = folder_with_a_bad_file(tmp_path / "photos", 6)
    double = PixelEmbedder(batch_size=4)
    here = collect(iter_files(double, paths, address="ray://nowhere.invalid:1"))
    assert here[0] == [0, 1, 2, 3, 4, 5] and [i for i, _ in here[2]] == [6]


def test_random_weights_are_refused(random_embedder: Embedder) -> None:
    from lookalike.errors import LookalikeError

    with pytest.raises(LookalikeError, match="random weights"):
        next(iter_files(random_embedder, ["a.png"]))


def test_an_index_built_on_ray_equals_one_built_without(
    cluster: str, embedder: Embedder, tmp_path: Path
) -> None:
    """~100 images and a corrupt file: same rows, vectors with cosine ≥ 0.9999, same search results."""
    folder = tmp_path / "photos"
    paths = folder_with_a_bad_file(folder, 100)
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    index_folder(folder, embedder, location=plain)
    report = index_folder(folder, embedder, location=on_ray, ray=cluster)
    assert report.new == 100 and len(report.failed) == 1
    assert rows(plain) == rows(on_ray)
    va, vb = vectors(plain), vectors(on_ray)
    assert va.keys() == vb.keys()
    names = sorted(va)
    assert cosines(np.stack([va[n] for n in names]), np.stack([vb[n] for n in names])).min() >= 0.9999
    assert_consistent(on_ray)
    with Index.open(plain) as a, Index.open(on_ray) as b:
        for query in paths[:100:7]:
            hits_a, hits_b = a.search(query, k=5).hits, b.search(query, k=5).hits
            assert [h.relpath for h in hits_a] == [h.relpath for h in hits_b]
            np.testing.assert_allclose([h.score for h in hits_a], [h.score for h in hits_b], atol=1e-4)


def spy_on_reads(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[str]:
    """Record every file under ``folder`` that this process opens (``open``, ``io.open``, ``os.open``:
    hashing, image headers, decoding); Ray's workers are other processes, out of the spy's reach."""
    import builtins
    import io

    inside = str(folder.resolve()) + os.sep
    reads: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def note(file: Any) -> None:
        if isinstance(file, (str, os.PathLike)) and os.path.realpath(os.fspath(file)).startswith(inside):
            reads.append(os.fspath(file))

    def spy_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        note(file)
        return real_open(file, *args, **kwargs)

    def spy_os_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        note(path)
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    return reads


def test_on_ray_the_driver_reads_no_image_and_the_update_equals_one_without(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update with touched files (same bytes; other bytes of the same size), renames, two copies of a
    deleted file, deletions, new and corrupt files: on Ray the driver opens no file of the folder (the
    workers hash, measure and embed), and the index equals the one the same update makes without Ray —
    same rows (sha256, size, width, height, errors), same vectors, same report."""
    import shutil

    folder = tmp_path / "photos"
    write_images(folder, [f"a/{i:03d}.png" for i in range(24)])
    write_images(folder, [f"b/{i:03d}.bmp" for i in range(10)], seed=50)  # all of one size
    double = PixelEmbedder(batch_size=4)  # Ray from 8 files on, for the hashing and the embedding
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    for location in (plain, on_ray):
        index_folder(folder, double, location=location)
    for i in range(6):  # touched: same bytes, another mtime
        os.utime(folder / f"a/{i:03d}.png", ns=(1_000_000_000 * (i + 1), 1_000_000_000 * (i + 1)))
    write_images(folder, [f"b/{i:03d}.bmp" for i in range(4)], seed=70)  # same size, other bytes
    (folder / "moved").mkdir()
    for i in range(10, 16):  # renamed
        (folder / f"a/{i:03d}.png").rename(folder / f"moved/{i:03d}.png")
    (folder / "c").mkdir()
    for name in ("x.png", "y.png"):  # two copies of a file that goes: one takes its row, one is new
        shutil.copy2(folder / "a/016.png", folder / "c" / name)
    (folder / "a/016.png").unlink()
    (folder / "a/017.png").unlink()
    (folder / "b/009.bmp").unlink()
    write_images(folder, [f"n/{i:03d}.png" for i in range(12)], seed=100)
    write_images(folder, ["n/x.bmp", "n/y.bmp"], seed=120)  # the size of the deleted bmp, other bytes
    (folder / "n/bad.jpg").write_bytes(b"\xff\xd8\xff this is not a JPEG")

    reads = spy_on_reads(monkeypatch, folder)
    without = index_folder(folder, double, location=plain)
    assert reads, "the spy sees the single process read the files"
    reads.clear()
    with_ray = index_folder(folder, double, location=on_ray, ray=cluster)
    assert reads == []
    monkeypatch.undo()

    counts = ("new", "changed", "moved", "unchanged", "removed", "images")
    assert [getattr(with_ray, k) for k in counts] == [getattr(without, k) for k in counts]
    assert [(without.new, without.changed, without.moved, without.removed)] == [(15, 4, 7, 2)]
    assert with_ray.failed == without.failed and len(without.failed) == 1
    assert rows(on_ray) == rows(plain)
    va, vb = vectors(plain), vectors(on_ray)
    assert va.keys() == vb.keys() and all(np.array_equal(va[k], vb[k]) for k in va)
    assert_consistent(on_ray)


# A driver that joins the module's Ray instance, commits every batch, and waits after the first one.
DRIVER = """
import sys, time
import lookalike.collection.writer as writer
from lookalike.collection import index_folder
from pixel_embedder import PixelEmbedder

writer._FLUSH_SECONDS = 0.0  # every batch committed as it comes
folder, location, address = sys.argv[1:4]

def progress(phase, done, total):
    if phase == "embed" and done:
        print("embedded", done, flush=True)
        time.sleep(600)  # killed here

index_folder(folder, PixelEmbedder(batch_size=8), location=location, ray=address, progress=progress)
sys.exit(3)
"""


def test_a_driver_killed_mid_run_is_finished_by_a_run_without_ray(cluster: str, tmp_path: Path) -> None:
    """SIGKILL to a Ray driver once its first batch is committed: the next run, without Ray, embeds the
    rest, and the index equals one built in one go."""
    folder = tmp_path / "photos"
    folder_with_a_bad_file(folder, 100)
    location = tmp_path / "index"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (TESTS, os.environ.get("PYTHONPATH")) if p)}
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(folder), str(location), cluster],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = driver.stdout.readline() if driver.stdout else ""
        assert line.startswith("embedded"), driver.communicate(timeout=60)[1][-3000:]
        driver.send_signal(signal.SIGKILL)
        assert driver.wait(30) == -signal.SIGKILL
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    with sqlite3.connect(location / "index.db") as conn:
        (committed,) = conn.execute("SELECT COUNT(*) FROM images WHERE status = 'ok'").fetchone()
    assert 0 < committed < 100
    embedder = PixelEmbedder(batch_size=8)
    report = index_folder(folder, embedder, location=location)
    assert report.new == 100 - committed and len(report.failed) == 1
    assert_consistent(location)
    reference = tmp_path / "reference"
    index_folder(folder, embedder, location=reference)
    assert rows(reference) == rows(location)
    va, vb = vectors(reference), vectors(location)
    assert va.keys() == vb.keys() and all(np.array_equal(va[k], vb[k]) for k in va)


def test_a_wrong_address_is_said_before_any_work_whatever_the_jobs_size(tmp_path: Path) -> None:
    """Even a job too small for Ray (embedded here) refuses an address that leads nowhere, before the
    index is made; a reachable head passes the check."""
    import socket

    from lookalike.collection.distributed import check_address
    from lookalike.errors import LookalikeError

    paths = folder_with_a_bad_file(tmp_path / "photos", 3)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed again below: nothing listens there
    for address, says in (
        (f"127.0.0.1:{port}", "cannot reach the Ray cluster"),
        ("nowhere", "not a cluster address"),
    ):
        with pytest.raises(LookalikeError, match=says):
            index_folder(paths[0].parent, PixelEmbedder(batch_size=4), location=tmp_path / "idx", ray=address)
        assert not (tmp_path / "idx").exists()  # nothing was done
    with socket.socket() as head:
        head.bind(("127.0.0.1", 0))
        head.listen()
        check_address(f"ray://127.0.0.1:{head.getsockname()[1]}")  # reachable: no error
    check_address("auto")
