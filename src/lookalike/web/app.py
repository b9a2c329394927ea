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
========================================  ==================================================================

Safety: images are addressed by index id only (no route takes a path); files are read only inside the
indexed folder; uploads are limited while they stream, kept in memory, and decoded with a pixel limit;
every answer carries a strict Content-Security-Policy and ``nosniff``; the Host header is checked against
the names the server was started for (DNS rebinding) and a POST from another origin is refused. Errors are
``{"detail": "one line"}`` with a 4xx status.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from lookalike.errors import ImageError, LookalikeError, StoreError
from lookalike.index import SEARCH_METRICS, Entry, SearchResult
from lookalike.web.collection import Collection, ServeError, content_key
from lookalike.web.uploads import Upload, UploadError, decode_upload, pixel_limit, read_uploads

try:
    from fastapi import APIRouter, FastAPI, Query, Request
    from fastapi import Path as PathParam
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - exercised by the CLI's own check
    raise LookalikeError(
        f"the web page needs the web extra ({exc.name} is missing); install it with: "
        "pip install 'lookalike[web]'"
    ) from None

from lookalike.web.schemas import (
    CompareOut,
    CompareTiming,
    DuplicatesOut,
    ErrorOut,
    FailureOut,
    GroupOut,
    HitOut,
    ImageOut,
    ImagesPage,
    InfoOut,
    MemberOut,
    Metric,
    Preprocessing,
    QueryOut,
    Scores,
    SearchOut,
    SearchTiming,
    StructureOut,
    UploadsOut,
)

__all__ = ["DEFAULT_UPLOAD_LIMIT", "LOCAL_HOSTS", "create_app"]

log = logging.getLogger("lookalike.web")

#: Largest upload accepted by default: 20 MB (``--max-upload``).
DEFAULT_UPLOAD_LIMIT = 20 * 1024 * 1024
#: Host names a server bound to the loopback interface answers to.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
STATIC = Path(__file__).with_name("static")
MAX_K = 100
MAX_ID = 2**63 - 1

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


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Bad request",
        403: "Not served: the file lies outside the indexed folder",
        404: "No such image",
        409: "The index cannot do this now (e.g. a file is unreadable, or the weights are gone)",
        413: "Upload larger than the limit",
        415: "Upload sent in a way the server cannot read",
        422: "Invalid parameters or an upload that is not a readable image",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}


def _upload_body(fields: Sequence[str], required: Sequence[str]) -> dict[str, Any]:
    """The OpenAPI request body of an upload route (parsed by hand, while streaming)."""
    form = {
        "type": "object",
        "properties": {f: {"type": "string", "format": "binary"} for f in fields},
        "required": list(required),
    }
    content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
    if len(fields) == 1:
        content["image/jpeg"] = {"schema": {"type": "string", "format": "binary"}}
        content["image/png"] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": bool(required), "content": content}}


IMAGE_RESPONSE = {
    "description": "The image.",
    "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in
                ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp")},
}  # fmt: skip
THUMB_RESPONSE = {
    "description": "A JPEG no larger than the thumbnail side, never enlarged.",
    "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
}


IMAGE_ID = PathParam(ge=0, le=MAX_ID, description="The image's id in the index.")
K_QUERY = Query(10, ge=1, le=MAX_K, description="How many look-alikes.")
METRIC_QUERY = Query(
    "cosine",
    description="cosine (the search structure's order), or l2, l1, mse, ncc re-ranking its candidates.",
)
CANDIDATES_QUERY = Query(
    None,
    ge=1,
    le=10_000,
    description="Cosine candidates re-ranked by another metric; default max(10·k, 100).",
)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _server_timing(**durations: float | None) -> str:
    return ", ".join(f"{name};dur={ms:.2f}" for name, ms in durations.items() if ms is not None)


class _Guard:
    """Pure ASGI middleware: security headers on every answer, the Host check (``allowed_hosts``; DNS
    rebinding) and the refusal of cross-origin requests that change or compute something (POST)."""

    def __init__(self, app: Any, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host_header = headers.get("host", "")
        host = _host_name(host_header)
        refusal: tuple[int, str] | None = None
        if self.allowed is not None and "*" not in self.allowed and host not in self.allowed:
            refusal = (400, f"this server answers to {', '.join(sorted(self.allowed))}, not {host!r}")
        elif scope["method"] not in ("GET", "HEAD", "OPTIONS") and "origin" in headers:
            origin = urlsplit(headers["origin"]).netloc.lower()
            if origin != host_header.lower():
                refusal = (403, f"cross-origin request from {headers['origin'][:100]!r} refused")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        if refusal is not None:
            response = JSONResponse({"detail": refusal[1]}, status_code=refusal[0])
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _host_name(host_header: str) -> str:
    """``[::1]:8000`` → ``::1``; ``Example.org:80`` → ``example.org``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _one_line(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = [str(x) for x in error.get("loc", ()) if x not in ("query", "path", "body", "header")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def create_app(
    index_location: str | os.PathLike[str],
    *,
    upload_limit: int = DEFAULT_UPLOAD_LIMIT,
    max_pixels: int | None = None,
    allowed_hosts: Sequence[str] | None = None,
    thumb_side: int = 256,
    warm: bool = True,
) -> FastAPI:
    """The web app over the index in folder ``index_location`` (see :func:`lookalike.index.find_index`).

    ``upload_limit`` is the largest upload in bytes; ``max_pixels`` the decompression-bomb limit of every
    image read (default: :func:`lookalike.images.load_image`'s); ``allowed_hosts`` the Host names it
    answers to (``None``: any; the command line passes the loopback names unless ``--host`` says
    otherwise); ``thumb_side`` the longest side of a thumbnail. With ``warm``, start-up loads the rows,
    the search structure and the model in the background so the first requests are fast.

    Raises :class:`lookalike.errors.StoreError` when there is no index at ``index_location``.

    >>> app = create_app("photos/.lookalike")  # doctest: +SKIP
    """
    if upload_limit < 1:
        raise LookalikeError(f"the upload limit must be at least 1 byte, got {upload_limit}")
    collection = Collection(index_location, max_pixels=max_pixels, thumb_side=thumb_side)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:
            threading.Thread(target=collection.warm, name="lookalike-warm", daemon=True).start()
        yield
        collection.close()

    from lookalike import __version__

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
    app.add_middleware(_Guard, allowed_hosts=allowed_hosts)
    _add_error_handlers(app)
    api = APIRouter(prefix="/api")
    made_by = collection.index.made_by
    resize = int(made_by.get("resize_size") or made_by.get("crop_size") or 256)
    draft = (resize, resize)

    def image_out(e: Entry) -> ImageOut:
        return ImageOut(
            id=int(e.id),  # type: ignore[arg-type]
            path=e.path,
            width=e.width,
            height=e.height,
            bytes=e.size,
            thumb=f"/api/images/{e.id}/thumb?v={content_key(e)}",
            full=f"/api/images/{e.id}/full",
        )

    def indexed_query(e: Entry) -> QueryOut:
        out = image_out(e)
        return QueryOut(
            kind="indexed",
            id=out.id,
            path=e.path,
            width=e.width,
            height=e.height,
            bytes=e.size,
            thumb=out.thumb,
        )

    def upload_query(u: Upload) -> QueryOut:
        w, h = u.size or (None, None)
        return QueryOut(kind="upload", name=u.filename or None, width=w, height=h, bytes=len(u.data))

    def hits_out(result: SearchResult) -> list[HitOut]:
        snap = collection.snapshot()
        out = []
        for h in result.hits:
            image_id = snap.id_of.get(h.relpath)
            if image_id is None:  # removed from the index since the search began
                continue
            out.append(HitOut(rank=h.rank, score=h.score, **image_out(snap.by_id[image_id]).model_dump()))
        return out

    # -- the page -----------------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/docs", include_in_schema=False)
    def docs_page() -> FileResponse:
        return FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- the collection -----------------------------------------------------------------------------------

    @api.get("/info", response_model=InfoOut, summary="The index overview")
    def info() -> InfoOut:
        d = collection.index.info()
        search = d.get("search")
        return InfoOut(
            location=d["location"],
            root=d["root"],
            version=collection.snapshot().version,
            images=d["images"],
            failed=d["failed"],
            dim=d["dim"],
            model=d.get("model"),
            cifar_stem=d.get("cifar_stem"),
            weights=d.get("weights"),
            fingerprint=d.get("fingerprint"),
            precision=d.get("precision") or "",
            preprocessing=Preprocessing(**d["preprocessing"]),
            search=StructureOut(**search) if search else None,
            disk_bytes=int(d["disk_bytes"]["total"]),
            created=d.get("created"),
            updated=d.get("updated"),
            metrics=list(SEARCH_METRICS),  # type: ignore[arg-type]
            uploads=UploadsOut(
                enabled=collection.model_error is None,
                ready=collection.model_ready,
                reason=collection.model_error,
                max_bytes=upload_limit,
                max_pixels=pixel_limit(max_pixels),
            ),
            thumb_side=thumb_side,
        )

    @api.get("/images", response_model=ImagesPage, responses=_errors(422), summary="List indexed images")
    def images(
        offset: int = Query(0, ge=0, le=MAX_ID, description="Images to skip."),
        limit: int = Query(60, ge=1, le=500, description="Images to return."),
        order: Literal["path", "random"] = Query("path", description="By path, or shuffled by seed."),
        seed: int = Query(0, ge=0, le=2**32 - 1, description="The shuffle, for order=random."),
        q: str | None = Query(None, max_length=200, description="Only paths containing this (any case)."),
    ) -> ImagesPage:
        entries = collection.snapshot().entries
        if q:
            needle = q.lower()
            entries = [e for e in entries if needle in e.path.lower()]
        if order == "random":
            rows = np.random.default_rng(seed).permutation(len(entries))[offset : offset + limit]
            chosen = [entries[int(i)] for i in rows]
        else:
            chosen = entries[offset : offset + limit]
        return ImagesPage(
            total=len(entries),
            offset=offset,
            limit=limit,
            order=order,
            seed=seed,
            q=q,
            images=[image_out(e) for e in chosen],
        )

    @api.get("/images/{image_id}", response_model=ImageOut, responses=_errors(404, 422), summary="One image")
    def image(image_id: int = IMAGE_ID) -> ImageOut:
        return image_out(collection.entry(image_id))

    @api.get(
        "/images/{image_id}/thumb",
        response_class=Response,
        responses={200: THUMB_RESPONSE, **_errors(403, 404, 409, 422)},
        summary="An image's thumbnail",
    )
    def thumb(
        image_id: int = IMAGE_ID,
        v: str | None = Query(None, max_length=64, description="Content tag from the listing (caching)."),
    ) -> Response:
        started = time.perf_counter()
        entry = collection.entry(image_id)
        data, cached = collection.thumbnail(entry)
        key = content_key(entry)
        source = "cache" if cached else "made"
        headers = {
            "Cache-Control": "private, max-age=31536000, immutable" if v == key else "no-cache",
            "ETag": f'"{key}-{thumb_side}"',
            "Server-Timing": f'thumb;dur={_ms(time.perf_counter() - started):.2f};desc="{source}"',
        }
        if isinstance(data, Path):
            return FileResponse(data, media_type="image/jpeg", headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)

    @api.get(
        "/images/{image_id}/full",
        response_class=Response,
        responses={200: IMAGE_RESPONSE, **_errors(403, 404, 409, 422)},
        summary="The image itself",
    )
    def full(image_id: int = IMAGE_ID) -> Response:
        entry = collection.entry(image_id)
        data, media = collection.original(entry)
        headers = {"Cache-Control": "no-cache"}
        if isinstance(data, Path):
            name = Path(entry.path).name
            return FileResponse(
                data, media_type=media, headers=headers, filename=name, content_disposition_type="inline"
            )
        return Response(data, media_type=media, headers=headers)

    # -- search -------------------------------------------------------------------------------------------

    @api.get(
        "/search",
        response_model=SearchOut,
        responses=_errors(403, 404, 409, 422),
        summary="Look-alikes of an indexed image",
    )
    def search_by_id(
        response: Response,
        id: int = Query(ge=0, le=MAX_ID, description="The indexed image to search from."),
        k: int = K_QUERY,
        metric: Metric = METRIC_QUERY,
        candidates: int | None = CANDIDATES_QUERY,
    ) -> SearchOut:
        started = time.perf_counter()
        entry = collection.entry(id)
        try:
            collection.file(entry)
        except ServeError as exc:
            if exc.status != 404:  # a file gone since indexing still has its stored vector
                raise
        result = collection.index.search(
            collection.root / entry.path, k=k, metric=metric, candidates=candidates
        )
        hits = hits_out(result)
        elapsed = time.perf_counter() - started
        response.headers["Server-Timing"] = _server_timing(search=_ms(elapsed))
        return SearchOut(
            query=indexed_query(entry),
            metric=metric,
            higher_is_better=result.higher_is_better,
            k=k,
            structure=result.structure,
            exact=result.exact,
            candidates=result.candidates,
            hits=hits,
            timing=SearchTiming(decode_ms=None, embed_ms=None, search_ms=_ms(elapsed), total_ms=_ms(elapsed)),
        )

    @api.post(
        "/search",
        response_model=SearchOut,
        responses=_errors(409, 413, 415, 422),
        openapi_extra=_upload_body(["file"], ["file"]),
        summary="Look-alikes of an uploaded image",
    )
    async def search_by_upload(
        request: Request,
        response: Response,
        k: int = K_QUERY,
        metric: Metric = METRIC_QUERY,
        candidates: int | None = CANDIDATES_QUERY,
    ) -> SearchOut:
        """Send the image as multipart/form-data in the field ``file`` (``curl -F file=@cat.jpg``) or as the
        raw body with ``Content-Type: image/…`` (``curl --data-binary @cat.jpg -H 'Content-Type:
        image/jpeg'``). It is kept in memory only. ``timing`` reports decoding and embedding apart from
        the search (also in the ``Server-Timing`` header)."""
        started = time.perf_counter()
        uploads = await read_uploads(request.headers, request.stream(), files=["file"], limit=upload_limit)
        upload = uploads.get("file")
        if upload is None:
            raise UploadError(422, "no image in the request; send it in the form field 'file'")
        t0 = time.perf_counter()
        image = await run_in_threadpool(decode_upload, upload, max_pixels=max_pixels, draft=draft)
        decoded = time.perf_counter()
        vector, model_s = await run_in_threadpool(collection.embed, image)
        embedded = time.perf_counter()
        result = await run_in_threadpool(
            collection.index.search, vector, k=k, metric=metric, candidates=candidates
        )
        hits = hits_out(result)
        done = time.perf_counter()
        timing = SearchTiming(
            decode_ms=_ms(decoded - t0),
            embed_ms=_ms(model_s),
            search_ms=_ms(done - embedded),
            total_ms=_ms(done - started),
        )
        response.headers["Server-Timing"] = _server_timing(
            decode=timing.decode_ms, embed=timing.embed_ms, search=timing.search_ms, total=timing.total_ms
        )
        return SearchOut(
            query=upload_query(upload),
            metric=metric,
            higher_is_better=result.higher_is_better,
            k=k,
            structure=result.structure,
            exact=result.exact,
            candidates=result.candidates,
            hits=hits,
            timing=timing,
        )

    # -- compare ------------------------------------------------------------------------------------------

    def run_compare(sides: list[tuple[QueryOut, Any]], decode_s: float, started: float) -> CompareOut:
        from lookalike.compare import compare

        t0 = time.perf_counter()
        with collection.model() as embedder:
            c = compare(sides[0][1], sides[1][1], embedder=embedder)
        t1 = time.perf_counter()
        assert c.pixels is not None and c.features is not None
        return CompareOut(
            a=sides[0][0],
            b=sides[1][0],
            pixels=Scores(**c.pixels),
            features=Scores(**c.features),
            model=c.model,
            cifar_stem=c.cifar_stem,
            weights=c.weights,
            input_size=c.input_size,
            precision=c.precision,
            timing=CompareTiming(
                decode_ms=_ms(decode_s), compare_ms=_ms(t1 - t0), total_ms=_ms(t1 - started)
            ),
        )

    def indexed_side(image_id: int) -> tuple[QueryOut, Any]:
        entry = collection.entry(image_id)
        return indexed_query(entry), collection.load(entry, draft=draft)

    @api.get(
        "/compare",
        response_model=CompareOut,
        responses=_errors(403, 404, 409, 422),
        summary="Compare two indexed images",
    )
    def compare_ids(
        response: Response,
        a: int = Query(ge=0, le=MAX_ID, description="Id of the first image."),
        b: int = Query(ge=0, le=MAX_ID, description="Id of the second image."),
    ) -> CompareOut:
        started = time.perf_counter()
        sides = [indexed_side(a), indexed_side(b)]
        out = run_compare(sides, time.perf_counter() - started, started)
        response.headers["Server-Timing"] = _server_timing(
            decode=out.timing.decode_ms, compare=out.timing.compare_ms, total=out.timing.total_ms
        )
        return out

    @api.post(
        "/compare",
        response_model=CompareOut,
        responses=_errors(403, 404, 409, 413, 415, 422),
        openapi_extra=_upload_body(["a", "b"], []),
        summary="Compare two images, uploaded or indexed",
    )
    async def compare_uploads(
        request: Request,
        response: Response,
        a: int | None = Query(
            None, ge=0, le=MAX_ID, description="Id of the first image, unless uploaded as a."
        ),
        b: int | None = Query(
            None, ge=0, le=MAX_ID, description="Id of the second image, unless uploaded as b."
        ),
    ) -> CompareOut:
        """Each side is an indexed image (``?a=ID``) or an upload (multipart field ``a``), not both."""
        started = time.perf_counter()
        uploads = await read_uploads(request.headers, request.stream(), files=["a", "b"], limit=upload_limit)

        def side(name: str, image_id: int | None) -> tuple[QueryOut, Any]:
            upload = uploads.get(name)
            if upload is not None and image_id is not None:
                raise UploadError(422, f"image {name} is given twice (?{name}= and an upload); give one")
            if upload is not None:
                return upload_query_after(upload)
            if image_id is None:
                raise UploadError(
                    422, f"give image {name} as an id (?{name}=ID) or an upload (form field {name!r})"
                )
            return indexed_side(image_id)

        def upload_query_after(upload: Upload) -> tuple[QueryOut, Any]:
            picture = decode_upload(upload, max_pixels=max_pixels, draft=draft)
            return upload_query(upload), picture

        sides = await run_in_threadpool(lambda: [side("a", a), side("b", b)])
        out = await run_in_threadpool(run_compare, sides, time.perf_counter() - started, started)
        response.headers["Server-Timing"] = _server_timing(
            decode=out.timing.decode_ms, compare=out.timing.compare_ms, total=out.timing.total_ms
        )
        return out

    # -- duplicates ---------------------------------------------------------------------------------------

    def duplicates_out() -> DuplicatesOut:
        s = collection.duplicates.status()
        result = s["result"]
        groups: list[GroupOut] = []
        failures: list[FailureOut] = []
        if result is not None:
            snap = collection.snapshot()
            root = str(collection.root)
            for g in result.groups:
                members = []
                for m in g.members:
                    image_id = s["ids"].get(str(m.path))
                    e = snap.by_id.get(image_id) if image_id is not None else None
                    links = image_out(e) if e is not None else None
                    d = m.to_dict()
                    members.append(
                        MemberOut(
                            id=image_id,
                            path=e.path if e is not None else os.path.relpath(m.path, root),
                            keeper=m.keeper,
                            kind=d["kind"],
                            width=m.width,
                            height=m.height,
                            bytes=m.bytes,
                            ncc=d["ncc"],
                            rmse=d["rmse"],
                            ssim=d["fine"]["ssim"],
                            colour=d["fine"]["colour"],
                            thumb=links.thumb if links else None,
                            full=links.full if links else None,
                        )
                    )
                groups.append(GroupOut(keeper=members[0].id, members=members))
            failures = [FailureOut(path=os.path.relpath(p, root), reason=r) for p, r in result.failures]
        return DuplicatesOut(
            state=s["state"],
            version=s["version"],
            stage=s["stage"],
            done=s["done"],
            total=s["total"],
            started=s["started"],
            seconds=None if s["seconds"] is None else round(s["seconds"], 3),
            error=s["error"],
            images=result.images if result is not None else (0 if s["state"] == "done" else None),
            duplicates=result.duplicates if result is not None else (0 if s["state"] == "done" else None),
            groups=groups,
            failures=failures,
        )

    @api.get("/duplicates", response_model=DuplicatesOut, summary="Duplicate groups, or the progress")
    def duplicates() -> DuplicatesOut:
        """``idle`` until a POST starts the job; then ``working`` (with stage, done and total) and ``done``
        with the groups, largest first, keeper first in each. Read-only: nothing is moved."""
        return duplicates_out()

    @api.post(
        "/duplicates",
        response_model=DuplicatesOut,
        status_code=202,
        summary="Start finding duplicates",
    )
    def find_duplicates() -> DuplicatesOut:
        """Starts the job in the background unless it runs already or its result for the current index
        version exists; poll GET /api/duplicates."""
        collection.duplicates.start()
        return duplicates_out()

    app.include_router(api)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    def detail(status: int, text: str) -> JSONResponse:
        return JSONResponse({"detail": text}, status_code=status, headers={"Cache-Control": "no-store"})

    async def not_served(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServeError)
        return detail(exc.status, str(exc))

    async def upload_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UploadError)
        return detail(exc.status, exc.detail)

    async def lookalike_error(_: Request, exc: Exception) -> JSONResponse:
        status = 409 if isinstance(exc, StoreError) else 422 if isinstance(exc, ImageError) else 400
        return detail(status, str(exc))

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return detail(422, _one_line(exc))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return detail(500, f"internal error ({type(exc).__name__}); the server log has the details")

    app.add_exception_handler(ServeError, not_served)
    app.add_exception_handler(UploadError, upload_error)
    app.add_exception_handler(LookalikeError, lookalike_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
