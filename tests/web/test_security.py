"""The checks every answer goes through (:mod:`lookalike.web.security`): security headers, the Host check
against DNS rebinding, and the refusal of cross-origin POSTs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.app import LOCAL_HOSTS, create_app
from lookalike.web.security import CSP, Guard, host_name
from web_support import TestClient, bare_app, needs_shared, one_line


@needs_shared
def test_host_header_and_cross_origin_posts_are_checked(site: Path) -> None:
    application = create_app(site, allowed_hosts=list(LOCAL_HOSTS), warm=False)
    try:
        c = TestClient(application, base_url="http://127.0.0.1:8000")
        assert c.get("/api/info").status_code == 200
        assert c.get("/api/info", headers={"Host": "localhost:8000"}).status_code == 200
        rebinding = c.get("/api/info", headers={"Host": "evil.example:8000"})
        assert rebinding.status_code == 400 and "evil.example" in one_line(rebinding)
        assert rebinding.headers["x-content-type-options"] == "nosniff"
        cross = c.post("/api/duplicates", headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and "cross-origin" in one_line(cross)
        same = c.post("/api/compare?a=1&b=2", headers={"Origin": "http://127.0.0.1:8000"})
        assert same.status_code == 200
    finally:
        application.state.collection.close()


def test_the_guard_alone_adds_the_headers_and_refuses_other_hosts_and_origins() -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/read")
    def read() -> dict[str, str]:
        return {"ok": "yes"}

    @router.post("/write")
    def write() -> dict[str, str]:
        return {"ok": "yes"}

    app = bare_app(router)
    app.add_middleware(Guard, allowed_hosts=["localhost", "[::1]"])
    c = TestClient(app, base_url="http://localhost:8000")
    r = c.get("/read")
    assert r.status_code == 200 and r.headers["content-security-policy"] == CSP
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert c.get("/read", headers={"Host": "[::1]:8000"}).status_code == 200
    other = c.get("/read", headers={"Host": "example.org"})
    assert (
        other.status_code == 400
        and one_line(other) == "this server answers to ::1, localhost, not 'example.org'"
    )
    assert other.headers["referrer-policy"] == "no-referrer"
    cross = c.post("/write", headers={"Origin": "http://example.org"})
    assert cross.status_code == 403
    assert one_line(cross) == "cross-origin request from 'http://example.org' refused"
    assert c.post("/write", headers={"Origin": "http://localhost:8000"}).status_code == 200
    assert c.post("/write").status_code == 200  # no Origin: not a browser's cross-site request
    open_to_all = bare_app(router)
    open_to_all.add_middleware(Guard, allowed_hosts=None)  # a server listening on a public address
    anyone = TestClient(open_to_all, base_url="http://example.org").get("/read")
    assert anyone.status_code == 200 and anyone.headers["content-security-policy"] == CSP


def test_host_names_are_read_without_port_brackets_or_case() -> None:
    assert host_name("[::1]:8000") == "::1" and host_name("[::1]") == "::1"
    assert host_name("Example.ORG:80") == "example.org" and host_name("localhost") == "localhost"
    assert host_name("::1") == "::1" and host_name("") == ""


TOKEN = "a-token-of-the-tests-0123456789"


@needs_shared
def test_with_a_token_every_api_route_needs_it_by_header_or_by_the_pages_cookie(site: Path) -> None:
    application = create_app(site, allowed_hosts=list(LOCAL_HOSTS), warm=False, token=TOKEN)
    try:
        c = TestClient(application, base_url="http://127.0.0.1:8000")
        paths = application.openapi()["paths"]
        assert len(paths) >= 8
        for path, operations in paths.items():
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            for method in operations:
                refused = c.request(method.upper(), concrete)
                assert refused.status_code == 401, (method, concrete, refused.status_code)
        assert c.get("/api/openapi.json").status_code == 401 and c.get("/api/docs").status_code == 401
        assert "token" in one_line(c.get("/api/info"))
        assert (
            c.get("/api/info", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        )
        assert c.get("/api/info", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/").status_code == 200  # the page itself is public; what it asks for is not
        wrong = c.get("/?token=not-it", follow_redirects=False)
        assert wrong.status_code == 200 and "set-cookie" not in wrong.headers
        landing = c.get(f"/?token={TOKEN}&x=1", follow_redirects=False)
        assert landing.status_code == 303 and landing.headers["location"] == "/?x=1"  # out of the history
        cookie = landing.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/api/info").status_code == 200  # the cookie from the landing carries it now
        c.cookies.clear()
        assert c.get("/api/info").status_code == 401
        cross = c.post(
            "/api/compare?a=1&b=2",
            headers={"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"},
        )
        assert cross.status_code == 403  # the token does not let another site's page in
    finally:
        application.state.collection.close()


@needs_shared
def test_serve_makes_a_token_and_refuses_no_token_off_loopback(site: Path) -> None:
    from typer.testing import CliRunner

    from lookalike.cli import app as cli_app

    runner = CliRunner()
    off = runner.invoke(cli_app, ["serve", "--index", str(site), "--host", "0.0.0.0", "--no-token"])
    assert (
        off.exit_code == 1 and "--no-token would let anyone" in off.output and "Traceback" not in off.output
    )
    short = runner.invoke(cli_app, ["serve", "--index", str(site), "--token", "short"])
    assert short.exit_code == 1 and "at least 16 characters" in short.output
    both = runner.invoke(cli_app, ["serve", "--index", str(site), "--token", TOKEN, "--no-token"])
    assert both.exit_code == 1 and "cannot be combined" in both.output


@needs_shared
@pytest.mark.slow
def test_the_printed_address_carries_a_fresh_random_token(site: Path) -> None:
    import re
    import subprocess
    import sys

    import httpx

    from web_support import serve

    with serve(site, "--no-token") as url:  # for scripts on loopback: no token asked
        assert httpx.get(url + "api/info").status_code == 200
    cmd = [sys.executable, "-m", "lookalike", "serve", "--index", str(site), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)\?token=([\w-]{32,})", line)
        assert found, line
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@needs_shared
def test_every_post_with_the_token_but_a_foreign_origin_is_refused(site: Path, tmp_path: Path) -> None:
    application = create_app(
        site, allowed_hosts=list(LOCAL_HOSTS), warm=False, token=TOKEN, move_to=tmp_path / "dups"
    )
    try:
        c = TestClient(application, base_url="http://127.0.0.1:8000")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        posts = [
            re.sub(r"\{[^}]+\}", "1", path)
            for path, operations in application.openapi()["paths"].items()
            if "post" in operations
        ]
        assert {"/api/moves", "/api/moves/undo", "/api/decisions", "/api/duplicates/groups/1/keeper"} <= set(
            posts
        )
        for path in posts:
            for origin in ("http://evil.example", "http://127.0.0.1:9999", "null"):
                refused = c.post(path, headers={**auth, "Origin": origin}, json={})
                assert refused.status_code == 403, (path, origin, refused.status_code)
        assert not (tmp_path / "dups").exists()
    finally:
        application.state.collection.close()
