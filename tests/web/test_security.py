"""The checks every answer goes through (:mod:`lookalike.web.security`): security headers, the Host check
against DNS rebinding, and the refusal of cross-origin POSTs."""

from __future__ import annotations

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
