"""The web app's routes, one :class:`fastapi.APIRouter` per area; :func:`lookalike.web.app.create_app`
includes them in this order (:data:`API_ROUTERS` under ``/api``, after the page).

=================  =======================================================================================
:mod:`.pages`      ``/``, ``/api/docs``, ``/favicon.ico`` and the assets under ``/static``
:mod:`.info`       ``GET /api/info``
:mod:`.images`     ``GET /api/images``, ``/api/images/{id}``, ``…/thumb``, ``…/full``
:mod:`.search`     ``GET /api/search?id=…``, ``POST /api/search`` (an upload)
:mod:`.compare`    ``GET /api/compare?a=…&b=…``, ``POST /api/compare`` (uploads)
:mod:`.duplicates` ``GET /api/duplicates``, ``POST /api/duplicates``, ``…/groups/{gid}`` (``/keeper``, views)
:mod:`.review`     ``/api/decisions`` (``/forget``), ``/api/moves`` (``/undo``)
:mod:`.inspection` ``GET /api/inspect``, ``POST /api/inspect``
=================  =======================================================================================

Each route reads what it serves from the app's :class:`lookalike.web.state.AppState`, so a router can be
mounted alone on a bare :class:`fastapi.FastAPI` with a state of its own (the tests do).
"""

from __future__ import annotations

from fastapi import APIRouter

from lookalike.web.routes import compare, duplicates, images, info, inspection, pages, review, search

__all__ = [
    "API_ROUTERS",
    "compare",
    "duplicates",
    "images",
    "info",
    "inspection",
    "pages",
    "review",
    "search",
]

API_ROUTERS: tuple[APIRouter, ...] = (
    info.router,
    images.router,
    search.router,
    compare.router,
    duplicates.router,
    review.router,
    inspection.router,
)
