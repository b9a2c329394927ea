"""Disk failures as one clear line (lookalike.collection.disk), each made for real where the machine
allows: a full tmpfs, a file-size limit, a read-only disk, no permission; and the words of those that
cannot be made here."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

from collection.storage_support import (
    PixelEmbedder,
    assert_as_from_scratch,
    cli,
    committed,
    one_error_line,
    photos,
    tmpfs,
)
from lookalike.collection import index_folder
from lookalike.collection.disk import explain

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
