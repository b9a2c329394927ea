"""Downloads that fail fast: torchvision fetches weights and datasets with urllib and no timeout, so an
offline machine whose network drops packets would hang. Inside :func:`network_timeout` every socket
operation gives up after a few seconds instead.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_TIMEOUT_S = 10.0


@contextmanager
def network_timeout(seconds: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Temporarily make every new socket time out after ``seconds`` of silence (downloads still stream)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def reason(exc: BaseException) -> str:
    """The first line of an exception's cause, e.g. ``[Errno -2] Name or service not known``."""
    text = str(getattr(exc, "reason", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_reachable(url: str, seconds: float = DEFAULT_TIMEOUT_S) -> None:
    """Open (and close) a TCP connection to ``url``'s host; raises ``OSError`` when it cannot be reached.

    Called before a download so that an offline machine fails before torchvision prints its
    "Downloading: …" line and progress bar.
    """
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname or "", port), timeout=seconds):
        pass
