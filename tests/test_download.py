"""Downloads fail fast and say why in one line."""

from __future__ import annotations

import socket
import time

import pytest

from lookalike.download import check_reachable, network_timeout, reason


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_host_fails_within_seconds() -> None:
    start = time.monotonic()
    with pytest.raises(OSError):
        check_reachable(f"http://127.0.0.1:{_closed_port()}/weights.pth", seconds=2)
    assert time.monotonic() - start < 5


def test_a_listening_host_is_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"http://127.0.0.1:{server.getsockname()[1]}/x")


def test_network_timeout_is_restored() -> None:
    before = socket.getdefaulttimeout()
    with network_timeout(3.0):
        assert socket.getdefaulttimeout() == 3.0
    assert socket.getdefaulttimeout() == before


def test_reason_is_the_first_line() -> None:
    assert (
        reason(OSError("[Errno -2] Name or service not known\nmore"))
        == "[Errno -2] Name or service not known"
    )
    assert reason(TimeoutError()) == "TimeoutError"
