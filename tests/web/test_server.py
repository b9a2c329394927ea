"""``lookalike serve`` (:mod:`lookalike.web.server` and the command): its help and errors, a bounded load
test against the real server on 127.0.0.1, and raw traversal requests through uvicorn itself."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.cli import app as cli_app
from web_support import AUTH, needs_shared, serve

runner = CliRunner()


@needs_shared
def test_serve_help_has_an_example_and_the_cli_does_not_import_the_web_stack() -> None:
    result = runner.invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for words in ("--host", "--port", "--max-upload", "--open", "--index", "Example", "lookalike serve"):
        assert words in result.output
    code = (
        "import sys, lookalike.cli; print([m for m in ('fastapi', 'uvicorn', 'torch') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@needs_shared
def test_serve_errors_are_one_actionable_line(
    tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = runner.invoke(cli_app, ["serve", str(tmp_path)])
    assert missing.exit_code == 1 and "lookalike index FOLDER" in missing.output
    wrong = runner.invoke(cli_app, ["serve", "--index", str(tmp_path)])
    assert wrong.exit_code == 1 and "not a lookalike index" in wrong.output
    limit = runner.invoke(cli_app, ["serve", "--index", str(site), "--max-upload", "lots"])
    assert limit.exit_code == 1 and "--max-upload" in limit.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(cli_app, ["serve", "--index", str(site), "--port", str(port)])
    assert busy.exit_code == 1 and f"port {port} on 127.0.0.1 is already in use" in busy.output
    assert "pass another --port, or --port 0 for a free one" in busy.output  # the hint, as the flags
    import lookalike.web.server

    monkeypatch.setattr(lookalike.web.server, "missing_extra", lambda: "fastapi")
    no_extra = runner.invoke(cli_app, ["serve", "--index", str(site)])
    assert no_extra.exit_code == 1 and "pip install 'lookalike[web]'" in no_extra.output
    assert "Traceback" not in no_extra.output


LOAD_CLIENTS = 20


LOAD_SECONDS = 30.0


@needs_shared
@pytest.mark.slow
def test_load_20_clients_30_seconds_without_errors(site: Path) -> None:
    import httpx

    with serve(site) as url:
        assert url.startswith("http://127.0.0.1:")
        images = httpx.get(url + "api/images", params={"limit": 500}, headers=AUTH).json()["images"]
        ids = [i["id"] for i in images if i["path"] != "link-out.jpg"]
        upload = sorted((site.parent / "dog").iterdir())[0].read_bytes()
        latencies: dict[str, list[float]] = {"search": [], "thumb": [], "images": [], "upload": []}
        errors: list[str] = []

        async def worker(n: int) -> None:
            rng = np.random.default_rng(n)
            async with httpx.AsyncClient(base_url=url, timeout=20, headers=AUTH) as c:
                deadline = time.monotonic() + LOAD_SECONDS
                while time.monotonic() < deadline:
                    roll = rng.random()
                    image_id = int(rng.choice(ids))
                    started = time.perf_counter()
                    try:
                        if roll < 0.55:
                            kind = "search"
                            r = await c.get("/api/search", params={"id": image_id, "k": 12})
                        elif roll < 0.85:
                            kind = "thumb"
                            r = await c.get(f"/api/images/{image_id}/thumb")
                        elif roll < 0.95:
                            kind = "images"
                            r = await c.get("/api/images", params={"order": "random", "seed": n, "limit": 24})
                        else:
                            kind = "upload"
                            r = await c.post("/api/search", files={"file": ("q.jpg", upload, "image/jpeg")})
                    except httpx.HTTPError as exc:
                        errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    latencies[kind].append(time.perf_counter() - started)
                    if r.status_code != 200:
                        errors.append(f"{kind} {r.status_code} {r.text[:200]}")

        async def main() -> None:
            await asyncio.gather(*(worker(n) for n in range(LOAD_CLIENTS)))

        started = time.monotonic()
        asyncio.run(main())
        wall = time.monotonic() - started
    total = sum(len(v) for v in latencies.values())
    rate = total / wall
    print(
        f"\nload: {LOAD_CLIENTS} clients, {wall:.1f} s, {total} requests ({rate:.0f}/s), {len(errors)} errors"
    )
    for kind, values in latencies.items():
        if values:
            ms = np.array(values) * 1000
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            print(f"  {kind:7s} n={len(ms):5d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms")
    assert not errors, errors[:5]
    assert total >= LOAD_CLIENTS * 5 and all(latencies.values()), {k: len(v) for k, v in latencies.items()}


@needs_shared
@pytest.mark.slow
def test_the_live_server_refuses_raw_traversal_requests(site: Path) -> None:
    """The same refusals through uvicorn itself, request lines sent byte for byte."""
    with serve(site) as url:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        raws = ["/static/../../../../etc/passwd", "/api/images/../../etc/passwd/full",
                "/static/%2e%2e/%2e%2e/pyproject.toml", "/api/images/1/../../../../etc/passwd"]  # fmt: skip
        for raw in raws:
            with socket.create_connection((host, int(port)), timeout=10) as s:
                auth = f"Authorization: {AUTH['Authorization']}\r\n"  # past the token: the paths themselves
                s.sendall(
                    f"GET {raw} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}Connection: close\r\n\r\n".encode()
                )
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            status = int(reply.split(b" ", 2)[1])
            assert 400 <= status < 500, (raw, reply[:200])
            assert b"root:" not in reply
        evil = httpx_get(url + "api/info", headers={"Host": "evil.example", **AUTH})
        assert evil == 400


def httpx_get(url: str, **kw: Any) -> int:
    import httpx

    return httpx.get(url, **kw).status_code


def test_listen_errors_name_parameters_that_the_command_writes_as_its_flags() -> None:
    from lookalike.errors import LookalikeError, hint_for_cli
    from lookalike.web.server import listen

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LookalikeError) as caught:
            listen("127.0.0.1", port)
    exc = caught.value
    assert exc.message == f"port {port} on 127.0.0.1 is already in use" and "--" not in str(exc)
    assert exc.hint == "pass another `port`, or `port=0` for a free one"
    flags = {"host": "--host", "port": "--port"}
    assert hint_for_cli(exc.hint, flags) == "pass another --port, or --port 0 for a free one"
    with pytest.raises(LookalikeError) as caught:
        listen("no-such-host.invalid", 0)
    assert caught.value.hint == "try `host=127.0.0.1`" and "--" not in str(caught.value)
