"""One digest for a file's bytes, shared by weights fingerprints, the index and dedup."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lookalike.hashing import file_sha256
from lookalike.models import file_fingerprint


def test_file_sha256_is_the_sha256_of_the_bytes_across_read_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # 2.3 MB: more than one 1 MB read
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_fingerprint(path) == "sha256:" + hashlib.sha256(data).hexdigest()


def test_an_empty_file_hashes_and_a_missing_one_raises(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.touch()
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(OSError):
        file_sha256(tmp_path / "missing")
