"""The page itself: ``/`` (``static/index.html``), the local API reference ``/api/docs``, the icon, and
the page's assets under ``/static`` (mounted by :func:`static_files`). None is in the OpenAPI schema."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC", "router", "static_files"]

STATIC = Path(__file__).parents[1] / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/api/docs", include_in_schema=False)
def docs_page() -> FileResponse:
    return FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def static_files() -> StaticFiles:
    """The page's assets, to mount at ``/static`` (a router cannot carry a mount into an app)."""
    return StaticFiles(directory=STATIC)
