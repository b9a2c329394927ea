"""The FastAPI application behind ``lookalike serve``: one static page and a JSON API over one index.

Routes (all JSON under ``/api``, described by ``/api/openapi.json``; a reference page at ``/api/docs``):

========================================  ==================================================================
``GET  /``                                the page (``static/index.html``, ``app.js``, ``style.css``)
``GET  /api/info``                        the index overview: images, model, weights, structure, times
``GET  /api/images``                      ids, paths and sizes, a page at a time, by path or shuffled
``GET  /api/images/{id}``                 one image's facts
``GET  /api/images/{id}/thumb``           its thumbnail (JPEG, made once and cached in the index folder)
``GET  /api/images/{id}/full``            the image itself
``GET  /api/search?id=…``                 the k look-alikes of an indexed image
``POST /api/search``                      … of an uploaded image (multipart field ``file``, or raw image body)
``GET  /api/compare?a=…&b=…``             L1, MSE, cosine, NCC on pixels and features of two indexed images
``POST /api/compare``                     … where either side may be an upload (form fields ``a``, ``b``)
``GET  /api/duplicates``                  the duplicate groups with keepers, once computed (else progress)
``POST /api/duplicates``                  start computing them (in the background; kept per index version)
``GET  /api/duplicates/groups/{gid}``     one group to review
``POST …/groups/{gid}/keeper``            keep another file of it (the others checked against it)
``GET  …/groups/{gid}/members/{id}/{v}``  keeper and member aligned, or their difference map
``GET  /api/decisions``                   pairs marked not duplicates, keepers chosen
``POST /api/decisions``                   mark two images not duplicates (``/forget`` takes it back)
``GET  /api/moves``                       the move job and the move logs of the move folder
``POST /api/moves``                       move the duplicates of groups (``serve --move-to DIR`` only)
``POST /api/moves/undo``                  put back the files of a move log
``GET  /api/inspect``                     leaks, conflicts, duplicates, outliers, bad shots (else progress)
``POST /api/inspect``                     start inspecting (in the background; kept per index version)
========================================  ==================================================================

Safety: images are addressed by index id only (no route takes a path); files are read only inside the
indexed folder; uploads are limited while they stream, kept in memory, and decoded with a pixel limit;
every answer carries a strict Content-Security-Policy and ``nosniff``; the Host header is checked against
the names the server was started for (DNS rebinding) and a POST from another origin is refused; every
``/api`` request needs the server's token; files move only into the folder given at start, and a
read-only server changes nothing. Errors are ``{"detail": "one line"}`` with a 4xx status.

The routes live in :mod:`lookalike.web.routes` (one router per area), the checks every answer goes
through in :mod:`lookalike.web.security`, the error answers in :mod:`lookalike.web.handlers`, and what the
routes share in :class:`lookalike.web.state.AppState`; :func:`create_app` only puts them together.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from lookalike.errors import LookalikeError
from lookalike.units import parse_bytes
from lookalike.web.collection import THUMB_SIDE, Collection
from lookalike.web.server import LOOPBACK_NAMES

try:
    from fastapi import FastAPI
except ImportError as exc:  # pragma: no cover - exercised by the CLI's own check
    raise LookalikeError(
        f"the web page needs the web extra ({exc.name} is missing)",
        "install it with: pip install 'lookalike[web]'",
    ) from None

from lookalike import __version__
from lookalike.web.handlers import add_error_handlers
from lookalike.web.review import Review
from lookalike.web.routes import API_ROUTERS, pages
from lookalike.web.security import Guard
from lookalike.web.state import AppState

__all__ = ["DEFAULT_UPLOAD_LIMIT", "LOCAL_HOSTS", "create_app"]

#: Largest upload accepted by default: 20 MB (``--max-upload``).
DEFAULT_UPLOAD_LIMIT = parse_bytes("20MB")
#: Host names a server bound to the loopback interface answers to.
LOCAL_HOSTS = LOOPBACK_NAMES


def create_app(
    index_location: str | os.PathLike[str],
    *,
    upload_limit: int = DEFAULT_UPLOAD_LIMIT,
    max_pixels: int | None = None,
    allowed_hosts: Sequence[str] | None = None,
    thumb_side: int = THUMB_SIDE,
    warm: bool = True,
    token: str | None = None,
    move_to: str | os.PathLike[str] | None = None,
    read_only: bool = False,
) -> FastAPI:
    """The web app over the index in folder ``index_location`` (see :func:`lookalike.collection.find_index`).

    ``upload_limit`` is the largest upload in bytes; ``max_pixels`` the decompression-bomb limit of every
    image read (default: :func:`lookalike.images.load_image`'s); ``allowed_hosts`` the Host names it
    answers to (``None``: any; the command line passes the loopback names unless ``--host`` says
    otherwise); ``thumb_side`` the longest side of a thumbnail. With ``warm``, start-up loads the rows,
    the search structure and the model in the background so the first requests are fast. With ``token``,
    every ``/api`` request must carry it (see :mod:`lookalike.web.security`); the command line makes one
    unless told otherwise. ``move_to`` is the folder the page may move duplicates into (none: the page
    moves nothing; refused inside the indexed folder); ``read_only`` refuses every change (decisions,
    keepers, moves; search, compare and finding duplicates still work).

    Raises :class:`lookalike.errors.StoreError` when there is no index at ``index_location``.

    >>> app = create_app("photos/.lookalike")  # doctest: +SKIP
    """
    if upload_limit < 1:
        raise LookalikeError(f"the upload limit must be at least 1 byte, got {upload_limit}")
    collection = Collection(index_location, max_pixels=max_pixels, thumb_side=thumb_side)
    try:
        review = Review(
            collection, move_to=Path(move_to) if move_to is not None else None, read_only=read_only
        )
    except LookalikeError:
        collection.close()
        raise

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:
            threading.Thread(target=collection.warm, name="lookalike-warm", daemon=True).start()
        yield
        collection.close()

    app = FastAPI(
        title="lookalike",
        version=__version__,
        summary="Search a collection of images by look-alike, compare two images, find duplicates.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN; /api/docs is a local page instead
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    app.state.collection = collection
    app.state.lookalike = AppState.of(
        collection, upload_limit=upload_limit, max_pixels=max_pixels, thumb_side=thumb_side, review=review
    )
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, token=token)
    add_error_handlers(app)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    for router in API_ROUTERS:
        app.include_router(router)
    return app
