"""The page router: ``/``, ``/api/docs``, the icon and the static assets, local and with strict headers."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.routes import pages
from web_support import TestClient, bare_app, needs_shared


@needs_shared
def test_the_page_and_its_assets_are_local_and_served_with_strict_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assets = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert "/static/app.js" in assets and "/static/style.css" in assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset}: the page must not load anything from another host"
        assert client.get(asset).status_code == 200, asset
    for name in ("app.js", "style.css", "api.js", "api.html"):
        text = client.get(f"/static/{name}").text
        assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", text), (
            f"{name} loads from a CDN"
        )
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline scripts (the CSP forbids them)"
    assert "style=" not in html and "<style" not in html, "no inline styles (the CSP forbids them)"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_page_router_alone_serves_the_page_without_any_state() -> None:
    app = bare_app(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    c = TestClient(app)
    page = c.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert c.get("/api/docs").status_code == 200 and c.get("/static/style.css").status_code == 200
    icon = c.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert c.get("/api/info").status_code == 404  # only this router is mounted
    assert "/" not in c.get("/openapi.json").json().get("paths", {})  # the page is not an API operation
