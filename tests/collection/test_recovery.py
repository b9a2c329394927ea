"""Recovery (lookalike.collection.recovery): bytes overwritten in the catalogue, a deleted catalogue, a
truncated vectors file, a folder copied while it was written, then one clear line and, after the repair
path, an index equal to one built from scratch."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from collection.storage_support import (
    PixelEmbedder,
    assert_as_from_scratch,
    cli,
    one_error_line,
    photos,
)
from lookalike.collection import Index, index_folder
from lookalike.collection import recovery as recovery_module
from lookalike.collection import writer as writer_module
from lookalike.collection.disk import StorageError
from lookalike.collection.health import health
from lookalike.collection.location import COPY_NAME
from lookalike.collection.recovery import check_catalogue

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
    assert code == 1 and "index.db is damaged" in line and f"; index {folder} again to restore" in line, line
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
        StorageError, match=r"damaged .*no good copy of it: index .* again with `rebuild=True`"
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
    assert code == 1 and f"index.db is missing; index {folder} again" in line and "40 images" in line, line
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

    with Index.open(location) as idx, pytest.raises(StorageError, match="again with `repair=True`") as caught:
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


def test_save_copy_keeps_the_catalogue_as_it_is_now(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 3)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    (location / COPY_NAME).unlink()
    with Index.open(location) as idx:
        path = idx.save_copy()
    assert path == location / COPY_NAME and check_catalogue(path) is None
    assert health(location)["copy"]["images"] == 3
