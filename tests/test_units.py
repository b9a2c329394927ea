"""Byte amounts: one reading and one writing, powers of 1024 both ways."""

from __future__ import annotations

import pytest

from lookalike.errors import LookalikeError, StoreError
from lookalike.units import format_bytes, parse_bytes


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1,023 B"),
        (1024, "1 KB"),
        (20 * 1024**2, "20 MB"),
        (100_000, "97.7 KB"),
        (3 << 40, "3 TB"),
    ],
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


@pytest.mark.parametrize("n", [5000, 20 * 1024**2, 7 << 30])
def test_what_is_written_reads_back(n: int) -> None:
    assert parse_bytes(format_bytes(n)) == pytest.approx(n, rel=0.005)


def test_parse_names_the_setting_and_raises_the_asked_error() -> None:
    with pytest.raises(LookalikeError, match="max-upload='lots'"):
        parse_bytes("lots", where="max-upload")
    with pytest.raises(StoreError):
        parse_bytes("", error=StoreError)
