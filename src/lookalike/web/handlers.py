"""How the web app answers errors: always ``{"detail": "one line"}``, with the status the error calls for.

* :class:`~lookalike.web.collection.ServeError` and :class:`~lookalike.web.uploads.UploadError`: their own
  status (403 outside the folder, 404 gone or unknown, 409 unreadable now; 400, 413, 415, 422 uploads);
* :class:`~lookalike.errors.StoreError` 409 (the index cannot do this now), ``ImageError`` 422, any other
  :class:`~lookalike.errors.LookalikeError` 400;
* invalid parameters 422, the first three problems on one line;
* anything unexpected 500, the details in the server log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike.errors import ImageError, LookalikeError, StoreError
from lookalike.web.collection import ServeError
from lookalike.web.uploads import UploadError

__all__ = ["add_error_handlers", "one_line"]

log = logging.getLogger("lookalike.web")


def one_line(exc: RequestValidationError) -> str:
    """The first three problems of a request that failed validation, on one line."""
    parts = []
    for error in exc.errors()[:3]:
        loc = [str(x) for x in error.get("loc", ()) if x not in ("query", "path", "body", "header")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _detail(status: int, text: str) -> JSONResponse:
    return JSONResponse({"detail": text}, status_code=status, headers={"Cache-Control": "no-store"})


async def _not_served(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServeError)
    return _detail(exc.status, str(exc))


async def _upload_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UploadError)
    return _detail(exc.status, exc.detail)


async def _lookalike_error(_: Request, exc: Exception) -> JSONResponse:
    status = 409 if isinstance(exc, StoreError) else 422 if isinstance(exc, ImageError) else 400
    return _detail(status, str(exc))


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _detail(422, one_line(exc))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return _detail(500, f"internal error ({type(exc).__name__}); the server log has the details")


def add_error_handlers(app: FastAPI) -> None:
    """Install the handlers on ``app`` (a whole app, or a bare one a router is tested on)."""
    app.add_exception_handler(ServeError, _not_served)
    app.add_exception_handler(UploadError, _upload_error)
    app.add_exception_handler(LookalikeError, _lookalike_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
