"""Errors: a message plus an optional hint, written with flags on the command line."""

from __future__ import annotations

import pytest

from lookalike.errors import DataError, LookalikeError, StoreError, hint_for_cli


def test_message_and_hint_make_one_line() -> None:
    exc = StoreError("the index was built with other weights", "pass `rebuild=True`")
    assert str(exc) == "the index was built with other weights; pass `rebuild=True`"
    assert (exc.message, exc.hint) == ("the index was built with other weights", "pass `rebuild=True`")


def test_without_hint_the_message_is_all() -> None:
    exc = DataError("no images in photos/")
    assert str(exc) == "no images in photos/" and exc.hint is None
    assert isinstance(exc, LookalikeError)


@pytest.mark.parametrize(
    ("hint", "cli"),
    [
        ("pass `rebuild=True`", "pass --rebuild"),
        ("lower `val_split`", "lower --val-split"),
        ("try `size=64`", "try --size 64"),
        ("start it with a larger `max_upload='40M'`", "start it with a larger --max-upload 40M"),
        ("call `Index.repair` or pass `unknown=1`", "call `Index.repair` or pass `unknown=1`"),
    ],
)
def test_cli_writes_known_parameters_as_flags(hint: str, cli: str) -> None:
    flags = {
        "rebuild": "--rebuild",
        "val_split": "--val-split",
        "size": "--size",
        "max_upload": "--max-upload",
    }
    assert hint_for_cli(hint, flags) == cli
