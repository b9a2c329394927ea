"""An index that survives its disk: each failure made for real (a full tmpfs, a file-size limit, bytes
overwritten in the catalogue, a truncated vectors file, a folder copied while it was written, a read-only
disk, no permission), then one clear line and, after the repair path, an index equal to one built from
scratch. The store is driven by the torch-free :class:`PixelEmbedder` (also inside ``lookalike`` child
processes, see ``CLI``), so that every run takes a second."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.collection import recovery as recovery_module
from lookalike.collection import writer as writer_module
from lookalike.index import Index, index_folder
from lookalike.storage import COPY_NAME, StorageError, check_catalogue, explain, health
from pixel_embedder import PixelEmbedder as _PixelEmbedder

ROOT = Path(__file__).resolve().parents[1]


class PixelEmbedder(_PixelEmbedder):
    backend = "torch"  # as far as the store can tell


# ``lookalike`` itself, with PixelEmbedder for the model and a commit every 16 images.
CLI = r"""
import sys
import lookalike.features as features
import lookalike.collection.writer as writer
from pixel_embedder import PixelEmbedder

class Pixels(PixelEmbedder):
    device = "cpu"
    backend = "torch"

    def __init__(self, *args, **kwargs):
        super().__init__(8)

features.Embedder = Pixels
writer._FLUSH_ROWS = 16
from lookalike.cli import main

sys.argv = ["lookalike", *sys.argv[1:]]
main()
"""


def cli(*args: str | Path, limit: int | None = None, nobody: bool = False) -> tuple[int, str, str]:
    """``lookalike ARGS`` in a child process: exit code, stdout, stderr. ``limit`` sets RLIMIT_FSIZE;
    ``nobody`` runs it as user and group 65534 (from root)."""

    def set_limit() -> None:
        import resource

        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    become = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if nobody else []
    proc = subprocess.run(
        [*become, sys.executable, "-c", CLI, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=set_limit,  # the test process starts no threads that could hold locks
        cwd=ROOT,
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line of a failed command (and no traceback, no "please report it")."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in stderr and "unexpected" not in stderr and "please report" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def picture(seed: int, size: int = 20) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def photos(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        picture(i).save(folder / f"{i:04d}.png")
    return folder


def rows(location: Path) -> dict[str, tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(location / "index.db")) as conn:
        got = conn.execute(
            "SELECT path, size, mtime_ns, sha256, width, height, status, error FROM images"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in got}


def vectors(location: Path) -> dict[str, np.ndarray]:
    with Index.open(location) as idx:
        entries = list(idx.entries())
        return {e.path: v for e, v in zip(entries, idx.vectors(entries), strict=True)}


def assert_as_from_scratch(folder: Path, location: Path, scratch: Path) -> None:
    """The index at ``location`` equals one built from scratch on ``folder``: the same rows, vectors with
    cosine ≥ 0.9999, every vector readable, a search structure that holds exactly the live vectors."""
    index_folder(folder, PixelEmbedder(), location=scratch)
    assert rows(location) == rows(scratch)
    got, want = vectors(location), vectors(scratch)
    assert got.keys() == want.keys()
    for path, v in want.items():
        w = got[path]
        assert float(v @ w / (np.linalg.norm(v) * np.linalg.norm(w))) >= 0.9999, path
    h = health(location)
    assert h["catalogue"] == "ok" and h["vectors"]["lost"] == 0, h
    assert h["search"]["state"] == "current" and h["copy"]["images"] == len(want), h


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (skips where this machine does not let the tests mount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root; the RLIMIT_FSIZE test covers a full disk here")
    path.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def committed(location: Path) -> int:
    with contextlib.closing(sqlite3.connect(location / "index.db")) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM images WHERE status = 'ok'").fetchone()[0])


# ----------------------------------------------------------------------------------------------------------
# Full disks


def test_disk_full_on_a_small_tmpfs(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 150)
    with tmpfs(tmp_path / "small", "192k") as small:
        location = small / "idx"
        code, _, err = cli("index", folder, "--index", location)
        line = one_error_line(err)
        assert code == 1
        assert "no space left on the disk of" in line and f"tmpfs at {small}" in line, line
        assert "more is needed" in line and "nothing already written is lost" in line, line
        kept = committed(location)
        subprocess.run(["mount", "-o", "remount,size=8m", str(small)], check=True)
        code, out, err = cli("index", folder, "--index", location, "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["unchanged"] == kept and report["new"] == 150 - kept
        assert_as_from_scratch(folder, location, tmp_path / "scratch")


def test_file_size_limit(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 150)
    location = tmp_path / "idx"
    code, _, err = cli("index", folder, "--index", location, limit=100_000)
    line = one_error_line(err)
    assert code == 1
    assert "file-size limit (97.7 KB, `ulimit -f`)" in line and "nothing already written is lost" in line
    kept = committed(location)
    assert 0 < kept < 150  # commits of 16 images each went through before the vectors file hit the limit
    code, out, err = cli("index", folder, "--index", location, "--json")
    assert code == 0, err
    assert json.loads(out)["unchanged"] == kept
    assert_as_from_scratch(folder, location, tmp_path / "scratch")


# ----------------------------------------------------------------------------------------------------------
# A damaged or missing catalogue


def damage(db: Path, seed: int = 0) -> None:
    """Overwrite 4 KB in the middle of ``db`` (a bad sector, a bad copy) and check SQLite notices."""
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.seek(size // 2 - size // 2 % 4096)
        f.write(np.random.default_rng(seed).bytes(4096))
    assert check_catalogue(db) is not None


def test_damaged_catalogue_is_restored_from_its_copy(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 300)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    photos(folder, 20, start=300)
    index_folder(folder, PixelEmbedder())  # the copy now holds 320 images
    (folder / "0000.png").unlink()
    photos(folder, 10, start=400)  # changes the copy does not know about
    damage(location / "index.db")

    code, _, err = cli("search", folder / "0001.png", "-k", "3")
    line = one_error_line(err)
    assert code == 1 and "index.db is damaged" in line and f"`lookalike index {folder}`" in line, line
    assert "restore its last good copy (320 images" in line, line
    code, out, _ = cli("info", folder, "--json")
    assert code == 1 and json.loads(out)["health"]["catalogue"].startswith("damaged")

    code, out, err = cli("index", folder, "--json")
    assert code == 0, err
    assert "note: the catalogue" in err and "was damaged" in err and "restored its last good copy" in err
    report = json.loads(out)
    assert report["restored"] and (report["new"], report["removed"], report["unchanged"]) == (10, 1, 319)
    assert (location / "index.db.damaged").is_file()
    assert_as_from_scratch(folder, location, tmp_path / "scratch")
    code, out, err = cli("search", folder / "0001.png", "-k", "3", "--json")
    assert code == 0 and len(json.loads(out)["hits"]) == 3, err


def test_running_readers_answer_from_the_restored_catalogue(tmp_path: Path) -> None:
    """An open :class:`Index` and the web app, started before the damage, answer again once `index` has
    restored the catalogue: no restart."""
    pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from lookalike.web.app import create_app

    folder = photos(tmp_path / "photos", 300)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    web = create_app(location, warm=False)
    client = TestClient(web)
    with Index.open(location) as reader:
        assert reader.count == 300 and client.get("/api/info").json()["images"] == 300
        damage(location / "index.db")
        photos(folder, 5, start=300)
        index_folder(folder, PixelEmbedder())
        assert reader.count == 305
        assert reader.search("0301.png", k=1, include_self=True).hits[0].relpath == "0301.png"
        assert client.get("/api/info").json()["images"] == 305
        ids = client.get("/api/images", params={"limit": 500}).json()["images"]
        assert len(ids) == 305
        found = client.get("/api/search", params={"id": ids[-1]["id"], "k": 3})
        assert found.status_code == 200 and len(found.json()["hits"]) == 3
        (folder / "0000.png").unlink()
        index_folder(folder, PixelEmbedder(), rebuild=True)  # another catalogue file, from scratch
        assert reader.count == 304 and client.get("/api/info").json()["images"] == 304
        assert reader.search("0301.png", k=1, include_self=True).hits[0].relpath == "0301.png"
    web.state.collection.close()


def test_a_copy_missed_by_a_killed_run_is_saved_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = photos(tmp_path / "photos", 20)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    photos(folder, 5, start=20)
    with monkeypatch.context() as patched:  # as if killed right before saving the copy
        patched.setattr(recovery_module, "save_copy", lambda conn, location: location)
        index_folder(folder, PixelEmbedder())
    assert health(location)["copy"]["images"] == 20
    assert index_folder(folder, PixelEmbedder()).embedded == 0  # nothing changed since, but the copy is old
    assert health(location)["copy"]["images"] == 25
    assert index_folder(folder, PixelEmbedder()).embedded == 0
    saved = (location / COPY_NAME).stat().st_mtime_ns
    index_folder(folder, PixelEmbedder())
    assert (location / COPY_NAME).stat().st_mtime_ns == saved  # up to date: not copied again


def test_damaged_catalogue_without_a_copy_says_rebuild(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 300)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    (location / COPY_NAME).unlink()
    damage(location / "index.db")
    with pytest.raises(
        StorageError, match=r"damaged .*no good copy of it: rebuild with `lookalike index .* --rebuild`"
    ):
        index_folder(folder, PixelEmbedder())
    assert index_folder(folder, PixelEmbedder(), rebuild=True).rebuilt
    assert_as_from_scratch(folder, location, tmp_path / "scratch")


def test_deleted_catalogue_is_restored_from_its_copy(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 40)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (location / name).unlink(missing_ok=True)
    code, _, err = cli("search", folder / "0001.png")
    line = one_error_line(err)
    assert code == 1 and "index.db is missing; run `lookalike index" in line and "40 images" in line, line
    code, out, err = cli("index", folder, "--json")  # the weights come from the copy
    assert code == 0, err
    report = json.loads(out)
    assert "was missing: restored its last good copy" in report["restored"]
    assert (report["new"], report["unchanged"]) == (0, 40)
    assert_as_from_scratch(folder, location, tmp_path / "scratch")


# ----------------------------------------------------------------------------------------------------------
# Lost vectors


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_truncated_vectors_file_is_repaired(tmp_path: Path, seed: int) -> None:
    folder = photos(tmp_path / "photos", 60)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    with Index.open(location) as idx:
        file = location / idx.meta()["vectors_file"]
    cut = int(np.random.default_rng(seed).integers(1, file.stat().st_size))  # mid-row, mostly
    os.truncate(file, cut)
    kept = cut // (4 * PixelEmbedder.dim)

    with Index.open(location) as idx, pytest.raises(StorageError, match="--repair") as caught:
        idx.vectors(list(idx.entries()))
    assert caught.value.kind == "short" and f"holds {kept:,} of the 60 vectors" in str(caught.value)
    h = health(location)
    assert h["vectors"]["lost"] == 60 - kept and h["command"].endswith("--repair")

    report = index_folder(folder, PixelEmbedder())  # the automatic path: only the lost ones again
    assert (report.repaired, report.new, report.unchanged) == (60 - kept, 0, kept)
    assert_as_from_scratch(folder, location, tmp_path / "scratch")


def test_repair_embeds_unreadable_vectors_and_drops_gone_files(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 30)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    with Index.open(location) as idx:
        file = location / idx.meta()["vectors_file"]
        victim = next(e for e in idx.entries() if e.path == "0007.png")
    with file.open("r+b") as f:  # a NaN in the middle of one stored vector
        f.seek((int(victim.vector or 0) * PixelEmbedder.dim + 5) * 4)
        f.write(np.array([np.nan], dtype=np.float32).tobytes())
    (folder / "0003.png").unlink()
    report = index_folder(folder, PixelEmbedder(), repair=True)
    assert (report.repaired, report.removed, report.unchanged) == (1, 1, 28)
    assert_as_from_scratch(folder, location, tmp_path / "scratch")


def test_folder_copied_while_index_was_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index folder copied file by file while `index` wrote it: the vectors file early, the catalogue
    later (rows pointing past the copied vectors), and the other way round (orphan vectors)."""
    monkeypatch.setattr(writer_module, "_FLUSH_ROWS", 16)  # commits while the copies are taken
    folder = photos(tmp_path / "photos", 120)
    location = tmp_path / "live"
    copies = {"vectors-first": tmp_path / "copy-a", "catalogue-first": tmp_path / "copy-b"}
    for copy in copies.values():
        copy.mkdir()

    def take(names: tuple[str, ...], copy: Path) -> None:
        for path in location.iterdir():
            if path.name.startswith(names):
                shutil.copyfile(path, copy / path.name)

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "embed" and done == 40:
            take(("vectors-",), copies["vectors-first"])
            take(("index.db",), copies["catalogue-first"])
        if phase == "embed" and done == 96:
            take(("index.db",), copies["vectors-first"])
            take(("vectors-",), copies["catalogue-first"])

    index_folder(folder, PixelEmbedder(4), location=location, progress=progress)
    scratch = tmp_path / "scratch"
    for kind, copy in copies.items():
        report = index_folder(folder, PixelEmbedder(), location=copy)
        assert report.new + report.repaired + report.unchanged == 120, kind
        if kind == "vectors-first":
            assert report.repaired > 0
        assert_as_from_scratch(folder, copy, scratch)
        shutil.rmtree(scratch)


# ----------------------------------------------------------------------------------------------------------
# Read-only and forbidden


def test_read_only_disk(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 20)
    with tmpfs(tmp_path / "ro", "4m") as disk:
        location = disk / "idx"
        index_folder(folder, PixelEmbedder(), location=location)
        photos(folder, 5, start=100)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        code, _, err = cli("index", folder, "--index", location)
        line = one_error_line(err)
        assert code == 1 and f"is on a read-only disk ({disk})" in line and "--index DIR" in line, line
        code, out, err = cli("search", folder / "0001.png", "--index", location, "-k", "2", "--json")
        assert code == 0 and len(json.loads(out)["hits"]) == 2, err  # reading still works


def test_permission_denied(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(dir="/tmp" if os.geteuid() == 0 else tmp_path))
    try:
        base.chmod(0o755)
        folder = photos(base / "photos", 20)
        location = folder / ".lookalike"
        index_folder(folder, PixelEmbedder())
        photos(folder, 5, start=100)
        for path in [folder, *folder.iterdir(), location, *location.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        nobody = os.geteuid() == 0  # root ignores permission bits: be somebody else
        if nobody and shutil.which("setpriv") is None:
            pytest.skip("root ignores permission bits, and there is no setpriv to run as somebody else")
        if not nobody:
            location.chmod(0o555)
            (location / "lock").chmod(0o444)
        code, _, err = cli("index", folder, nobody=nobody)
        line = one_error_line(err)
        assert code == 1 and "permission denied for" in line and str(location) in line, line
        assert "give yourself access" in line
        code, out, err = cli("search", folder / "0001.png", "-k", "2", "--json", nobody=nobody)
        assert code == 0 and len(json.loads(out)["hits"]) == 2, err
    finally:
        for path in base.rglob("*"):
            with contextlib.suppress(OSError):
                path.chmod(0o755)
        shutil.rmtree(base)


# ----------------------------------------------------------------------------------------------------------
# Health


def test_info_reports_health(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 30)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    code, out, _ = cli("info", folder, "--json")
    h = json.loads(out)["health"]
    assert code == 0 and h["catalogue"] == "ok" and h["command"] is None
    assert h["vectors"] == {"committed": 30, "present": 30, "lost": 0, "file": True}
    assert h["copy"]["images"] == 30 and h["search"] == {"state": "current", "pending": 0, "dead": 0}
    code, _, err = cli("index", folder, "--repair")
    assert code == 0 and "checked the catalogue and every stored vector: nothing was lost" in err, err

    with Index.open(location) as idx, idx.writer() as w:  # rows committed after the structure was saved
        w.put([idx.entry("0001.png")], np.ones((1, PixelEmbedder.dim), dtype=np.float32))  # type: ignore[list-item]
    code, out, _ = cli("info", folder)
    assert code == 0
    assert "search structure: stale (1 vectors not in it yet, 1 unused" in out, out
    assert "last good copy: 30 images" in out and "vectors: 31 of 31 rows present, all present" in out


# ----------------------------------------------------------------------------------------------------------
# Readers and a writer at once

WRITER = r"""
import sys, time
from pathlib import Path
import lookalike.index as index
import lookalike.collection.writer as writer
from pixel_embedder import PixelEmbedder

class Pixels(PixelEmbedder):
    backend = "torch"

folder, location, base = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
stops = [int(s) for s in sys.argv[4:]]  # wait at these committed row counts until the test says go
writer._FLUSH_ROWS = 8
flush = index.Writer.flush

def paused(self):
    flush(self)
    if stops and self.index.count >= stops[0]:
        n = stops.pop(0)
        (location / f"paused-{n}").write_text(str(self.index.count))
        deadline = time.monotonic() + 120
        while not (location / f"go-{n}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)

index.Writer.flush = paused
index.index_folder(folder, Pixels(4), location=location)
"""


def test_readers_answer_while_a_writer_adds_images(tmp_path: Path) -> None:
    """`serve` (a real server on 127.0.0.1) and an open :class:`Index` keep answering from the last committed
    state while `index` adds 300 images, and see each new state without being restarted."""
    httpx = pytest.importorskip("httpx")
    from web_support import serve

    folder = photos(tmp_path / "photos", 100)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    photos(folder, 300, start=100)
    reader = Index.open(location)
    probe = vectors(location)["0005.png"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    with serve(location) as url, httpx.Client(base_url=url, timeout=30) as http:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(location), "100", "160", "300"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            counts: list[int] = []

            def read_everything() -> int:
                """One round of reads; returns the number of images both readers agree on."""
                hits = reader.search(probe, k=5).hits
                assert len(hits) == 5 and hits[0].relpath == "0005.png"
                assert len(reader.search("0042.png", k=3).hits) == 3
                info = http.get("/api/info")
                assert info.status_code == 200, info.text
                ids = http.get("/api/images", params={"limit": 500}).json()["images"]
                found = http.get("/api/search", params={"id": ids[-1]["id"], "k": 4})
                assert found.status_code == 200 and len(found.json()["hits"]) == 4, found.text
                counts.append(info.json()["images"])
                return counts[-1]

            for stop in (160, 300):
                marker = location / f"paused-{stop}"
                for _ in range(200):  # bounded: load while the writer embeds, until it pauses
                    read_everything()
                    if marker.exists() or writer.poll() is not None:
                        break
                assert marker.exists(), writer.stderr.read() if writer.poll() is not None else "no pause"
                committed_now = int(marker.read_text())
                assert read_everything() == reader.count == committed_now  # the new state, no restart
                new = f"{committed_now - 1:04d}.png"
                assert reader.search(vectors(location)[new], k=1).hits[0].relpath == new
                code, out, err = cli("search", folder / new, "-k", "3", "--json")  # a new process, too
                assert code == 0 and len(json.loads(out)["hits"]) == 3, err
                (location / f"go-{stop}").touch()
            for _ in range(200):
                read_everything()
                if writer.poll() is not None:
                    break
            assert writer.wait(120) == 0, writer.stderr.read()
            assert read_everything() == reader.count == 400
            assert counts == sorted(counts)  # never a step back to an older state
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
            reader.close()
    for marker in location.glob("paused-*"):
        marker.unlink()
    for marker in location.glob("go-*"):
        marker.unlink()
    assert_as_from_scratch(folder, location, tmp_path / "scratch")


# ----------------------------------------------------------------------------------------------------------
# Failures no test can make on this machine: the words only


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (OSError(errno.EIO, "Input/output error", "idx/vectors-0.f32"), "io", "it may be failing"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "idx/index.db"), "full", "your disk quota is used up"),
        (sqlite3.OperationalError("database is locked"), "busy", "stayed locked by another process"),
    ],
)
def test_failures_that_cannot_be_made_here_get_a_clear_line(error: Exception, kind: str, words: str) -> None:
    found = explain(error, Path("idx"))
    assert found is not None and found.kind == kind and words in str(found), found
    assert "\n" not in str(found)


def test_other_errors_are_not_storage_errors(tmp_path: Path) -> None:
    assert explain(ValueError("no"), tmp_path) is None
    assert explain(OSError(errno.ENOENT, "No such file", "/elsewhere/cat.jpg"), tmp_path) is None
    assert explain(sqlite3.OperationalError("no such table: images"), tmp_path) is None
