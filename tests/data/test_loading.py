"""load_data: unusable data is one line; CIFAR-10 offline fails fast and says how to pass a folder."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from lookalike.data import load_data
from lookalike.errors import DataError, hint_for_cli


@pytest.mark.parametrize("case", ["missing", "file", "flat", "empty-class"])
def test_unusable_data_is_one_line(make_tree: Callable[..., Path], tmp_path: Path, case: str) -> None:
    if case == "missing":
        spec = tmp_path / "nope"
    elif case == "file":
        spec = tmp_path / "notes.txt"
        spec.write_text("hello")
    elif case == "flat":
        spec = tmp_path / "flat"
        spec.mkdir()
        Image.new("RGB", (32, 32)).save(spec / "a.png")
    else:
        spec = make_tree(tmp_path / "tree")
        (spec / "zebra").mkdir()
    with pytest.raises(DataError) as info:
        load_data(spec)
    message = str(info.value)
    assert "\n" not in message
    if case == "flat":
        assert "class subfolders" in message
    if case == "empty-class":
        assert "zebra" in message


def test_cifar10_offline_fails_fast_and_says_how_to_pass_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def offline(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    # the host answers, the download itself fails
    monkeypatch.setattr("lookalike.data.loading.check_reachable", lambda url: None)
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as info:
        load_data("cifar10", root=tmp_path / "cifar")
    message = str(info.value)
    assert calls, "the download should have been attempted"
    assert "\n" not in message
    assert "Name or service not known" in message
    # the hint names a folder to pass instead, as the library's `data` and the command line's --data
    assert info.value.hint is not None and "`data=cifar10/train`" in info.value.hint
    line = hint_for_cli(info.value.hint, {"data": "--data", "data_root": "--data-root"})
    assert "--data cifar10/train" in line and "(--data-root)" in line


def test_cifar10_unreachable_host_fails_before_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(url: str) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("no download should start when the host cannot be reached")

    monkeypatch.setattr("lookalike.data.loading.check_reachable", unreachable)
    monkeypatch.setattr(urllib.request, "urlopen", never)
    with pytest.raises(DataError, match="Name or service not known"):
        load_data("cifar10", root=tmp_path / "cifar")
