"""Look-alikes: ``GET /api/search?id=…`` of an indexed image, ``POST /api/search`` of an uploaded one."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lookalike.index import SearchResult
from lookalike.web.collection import ServeError
from lookalike.web.routes.common import (
    CANDIDATES_QUERY,
    K_QUERY,
    METRIC_QUERY,
    errors,
    hits_out,
    id_query,
    indexed_get,
    indexed_query,
    ms,
    server_timing,
    timing_header,
    upload_body,
    upload_query,
)
from lookalike.web.schemas import HitOut, Metric, QueryOut, SearchOut, SearchTiming
from lookalike.web.state import State
from lookalike.web.uploads import UploadError, decode_upload, read_uploads

__all__ = ["router"]

router = APIRouter(prefix="/api")


# SearchOut's fields that say how the search went, as the SearchResult has them
_HOW = ("higher_is_better", "structure", "exact", "candidates")


def _search_out(
    query: QueryOut, metric: Metric, k: int, result: SearchResult, hits: list[HitOut], timing: SearchTiming
) -> SearchOut:
    """The answer of both search routes; ``result`` says how the search went."""
    how = {name: getattr(result, name) for name in _HOW}
    return SearchOut(query=query, metric=metric, k=k, hits=hits, timing=timing, **how)


@indexed_get(router, "/search", "Look-alikes of an indexed image", response_model=SearchOut)
def search_by_id(
    state: State,
    response: Response,
    id: int = id_query("The indexed image to search from."),
    k: int = K_QUERY,
    metric: Metric = METRIC_QUERY,
    candidates: int | None = CANDIDATES_QUERY,
) -> SearchOut:
    started = time.perf_counter()
    collection = state.collection
    entry = collection.entry(id)
    try:
        collection.file(entry)
    except ServeError as exc:
        if exc.status != 404:  # a file gone since indexing still has its stored vector
            raise
    result = collection.index.search(collection.root / entry.path, k=k, metric=metric, candidates=candidates)
    hits = hits_out(collection, result)
    elapsed = ms(time.perf_counter() - started)
    response.headers["Server-Timing"] = server_timing(search=elapsed)
    timing = SearchTiming(decode_ms=None, embed_ms=None, search_ms=elapsed, total_ms=elapsed)
    return _search_out(indexed_query(entry), metric, k, result, hits, timing)


@router.post(
    "/search",
    response_model=SearchOut,
    responses=errors(409, 413, 415, 422),
    openapi_extra=upload_body(["file"], ["file"]),
    summary="Look-alikes of an uploaded image",
)
async def search_by_upload(
    state: State,
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
    collection = state.collection
    uploads = await read_uploads(request.headers, request.stream(), files=["file"], limit=state.upload_limit)
    upload = uploads.get("file")
    if upload is None:
        raise UploadError(422, "no image in the request; send it in the form field 'file'")
    t0 = time.perf_counter()
    image = await run_in_threadpool(decode_upload, upload, max_pixels=state.max_pixels, draft=state.draft)
    decoded = time.perf_counter()
    vector, model_s = await run_in_threadpool(collection.embed, image)
    embedded = time.perf_counter()
    result = await run_in_threadpool(
        collection.index.search, vector, k=k, metric=metric, candidates=candidates
    )
    hits = hits_out(collection, result)
    done = time.perf_counter()
    timing = SearchTiming(
        decode_ms=ms(decoded - t0),
        embed_ms=ms(model_s),
        search_ms=ms(done - embedded),
        total_ms=ms(done - started),
    )
    response.headers["Server-Timing"] = timing_header(timing)
    return _search_out(upload_query(upload), metric, k, result, hits, timing)
