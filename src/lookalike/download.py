"""Downloads that fail fast: torchvision fetches weights and datasets with urllib and no timeout, so an
offline machine whose network drops packets would hang. Inside :func:`network_timeout` every socket
operation gives up after a few seconds instead.
"""

from __future__ import annotations

import socket
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
