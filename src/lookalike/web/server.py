"""Running the web app: listen on an address, answer with uvicorn, optionally open a browser.

The socket is bound before uvicorn starts, so a taken port is one clear error, ``--port 0`` picks a free
port whose number is known before the first request, and the URL printed is the one that works.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
import threading
import webbrowser
from typing import Any

from lookalike.errors import LookalikeError

__all__ = ["allowed_hosts_for", "is_loopback", "listen", "missing_extra", "run", "url_for"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def missing_extra() -> str | None:
    """The first module of the ``web`` extra that is not installed, or ``None``."""
    import importlib.util

    for module in ("fastapi", "uvicorn", "python_multipart"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(host: str) -> list[str] | None:
    """The Host headers to answer: the loopback names for a loopback address (a web page elsewhere cannot
    reach the server through DNS rebinding), any for an address other machines use."""
    if is_loopback(host):
        return sorted({*LOOPBACK_NAMES, host.strip("[]").lower()})
    return None


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port).

    Raises :class:`LookalikeError` with a hint naming ``host`` or ``port`` (the command line shows them as
    ``--host`` and ``--port``, the options of ``lookalike serve`` with the same names).
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise LookalikeError(
            f"host {host}: not an address of this machine ({exc.strerror})", "try `host=127.0.0.1`"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise LookalikeError(
                f"port {port} on {host} is already in use", "pass another `port`, or `port=0` for a free one"
            ) from None
        if exc.errno == errno.EACCES:
            raise LookalikeError(
                f"no permission to listen on port {port}", "pass a `port` of 1024 or above, e.g. `port=8000`"
            ) from None
        raise LookalikeError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc})", "try `host=127.0.0.1`"
        ) from None
    sock.set_inheritable(True)
    return sock


def url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    if host in ("0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


def run(app: Any, sock: socket.socket, *, open_browser: bool = False) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl+C or SIGTERM stop it cleanly)."""
    import faiss
    import uvicorn

    # One query per request, many requests at once: an OpenMP team per query only adds synchronisation
    # (on a busy 2-core machine a search took 9 ms with 2 threads, 3 ms with 1). The same holds for the
    # model embedding one upload at a time: with other processes on the cores, a spinning 2-thread team
    # waits on a preempted thread (see benchmarks/RESULTS.md, "Web").
    faiss.omp_set_num_threads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    else:  # uploads run ONNX Runtime (one thread, lookalike.web.collection); torch loads only if needed
        os.environ["OMP_NUM_THREADS"] = "1"
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if open_browser:
        url = url_for(sock)
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])
