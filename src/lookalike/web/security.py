"""What every answer of the web app goes through: security headers, the Host check, the origin check, the
token.

:class:`Guard` is pure ASGI middleware: it adds a strict Content-Security-Policy, ``nosniff`` and the
other :data:`SECURITY_HEADERS` to every answer (errors included), refuses a Host header the server was
not started for (DNS rebinding; ``allowed_hosts``) with 400, and refuses a request that changes or
computes something (anything but GET, HEAD, OPTIONS) from another origin with 403. With a ``token``,
every ``/api`` request must carry it — ``Authorization: Bearer TOKEN``, or the cookie the page sets when
it is opened with ``?token=TOKEN`` (as Jupyter does) — or it is answered 401: other users of the machine
and other sites open in the same browser reach loopback too.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi.responses import JSONResponse, RedirectResponse

__all__ = ["COOKIE", "CSP", "SECURITY_HEADERS", "Guard", "host_name"]

#: The cookie that carries the token for the page's own requests (HttpOnly, SameSite=Strict).
COOKIE = "lookalike_token"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Guard:
    """Pure ASGI middleware: security headers on every answer, the Host check (``allowed_hosts``; DNS
    rebinding) and the refusal of cross-origin requests that change or compute something (POST)."""

    def __init__(self, app: Any, allowed_hosts: Sequence[str] | None, token: str | None = None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}
        self.token = token

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        refusal = self.refusal(scope)
        if refusal is not None:
            response = JSONResponse({"detail": refusal[1]}, status_code=refusal[0])
            await response(scope, receive, send_with_headers)
            return
        landing = self.landing(scope)
        if landing is not None:
            await landing(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def landing(self, scope: MutableMapping[str, Any]) -> RedirectResponse | None:
        """A page opened with ``?token=`` the right token: the same address without it (out of the
        history and of the Referer), with the cookie set. ``None`` for everything else."""
        if self.token is None or scope["method"] != "GET" or scope["path"].startswith("/api"):
            return None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if not given or not hmac.compare_digest(given[0].encode(), self.token.encode()):
            return None
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
        return response

    def _has_token(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        want = self.token.encode()
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), want):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header: no token in it
            return False
        sent = cookie.get(COOKIE)
        return sent is not None and hmac.compare_digest(sent.value.encode(), want)

    def refusal(self, scope: MutableMapping[str, Any]) -> tuple[int, str] | None:
        """``(status, detail)`` for a request refused by the Host or the origin check, else ``None``."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host_header = headers.get("host", "")
        host = host_name(host_header)
        if self.allowed is not None and "*" not in self.allowed and host not in self.allowed:
            return 400, f"this server answers to {', '.join(sorted(self.allowed))}, not {host!r}"
        if scope["method"] not in _SAFE_METHODS and "origin" in headers:
            origin = urlsplit(headers["origin"]).netloc.lower()
            if origin != host_header.lower():
                return 403, f"cross-origin request from {headers['origin'][:100]!r} refused"
        if self.token is not None and scope["path"].startswith("/api") and not self._has_token(headers):
            return 401, (
                "this server needs its token: open the address `lookalike serve` printed (it ends in "
                "?token=…), or send the header Authorization: Bearer TOKEN"
            )
        return None


def host_name(host_header: str) -> str:
    """``[::1]:8000`` → ``::1``; ``Example.org:80`` → ``example.org``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h
