"""Look-alikes: ``GET /api/search?id=…`` of an indexed image, ``POST /api/search`` of an uploaded one; the
hits that are copies of the query marked (:func:`lookalike.dedup.mark_copies`: the best 20 hits, no check
started after 1 s)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lookalike.collection.records import SearchResult
from lookalike.dedup import mark_copies
from lookalike.dedup.closeup import SIDE
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
    timing_header,
    upload_body,
    upload_query,
)
from lookalike.web.schemas import HitOut, Metric, QueryOut, SearchOut, SearchTiming
from lookalike.web.state import State
from lookalike.web.uploads import Upload, UploadError, decode_upload, read_uploads

if TYPE_CHECKING:
    from PIL import Image

    from lookalike.web.collection import Collection

__all__ = ["router"]

router = APIRouter(prefix="/api")

COPIES_QUERY = Query(
    True,
    description="Mark the hits that show the same picture as the query (copy, relation): the pixel checks "
    "of lookalike dedup on the best 20 hits, none started after 1 s. false skips them.",
)


# SearchOut's fields that say how the search went, as the SearchResult has them
_HOW = ("higher_is_better", "structure", "exact", "candidates")


def _search_out(
    query: QueryOut, metric: Metric, k: int, result: SearchResult, hits: list[HitOut], timing: SearchTiming
) -> SearchOut:
    """The answer of both search routes; ``result`` says how the search went."""
    how = {name: getattr(result, name) for name in _HOW}
    return SearchOut(query=query, metric=metric, k=k, hits=hits, timing=timing, **how)


def _mark_copies(collection: Collection, query: Path | Image.Image | None, hits: list[HitOut]) -> None:
    """Mark each of ``hits`` copy or not of ``query`` (a file, or an upload decoded; ``None``: gone since
    indexing, none checked). Only files inside the indexed folder are read: a hit that resolves outside it
    (a symbolic link) or is gone stays unchecked."""
    if query is None:
        return
    files: list[tuple[HitOut, Path]] = []
    for hit in hits:
        try:
            files.append((hit, collection.file(collection.entry(hit.id))))
        except ServeError:
            continue
    marks = mark_copies(query, [path for _, path in files])
    for (hit, _), mark in zip(files, marks, strict=True):
        hit.is_copy, hit.relation = mark.copy, mark.relation


def _mark_upload_copies(state: State, upload: Upload, image: Image.Image, hits: list[HitOut]) -> None:
    """:func:`_mark_copies` of an upload, read as the copy check reads a file: at its own size up to the
    close-up's 1,536 px (decoded again when the model's picture was decoded smaller), its stored size in
    ``info["source_size"]``."""
    if upload.size is not None and image.size != upload.size:
        image = decode_upload(upload, max_pixels=state.max_pixels, draft=(SIDE, SIDE))
    image.info["source_size"] = upload.size or image.size
    _mark_copies(state.collection, image, hits)


@indexed_get(router, "/search", "Look-alikes of an indexed image", response_model=SearchOut)
def search_by_id(
    state: State,
    response: Response,
    id: int = id_query("The indexed image to search from."),
    k: int = K_QUERY,
    metric: Metric = METRIC_QUERY,
    candidates: int | None = CANDIDATES_QUERY,
    copies: bool = COPIES_QUERY,
) -> SearchOut:
    started = time.perf_counter()
    collection = state.collection
    entry = collection.entry(id)
    query_file: Path | None = None
    try:
        query_file = collection.file(entry)
    except ServeError as exc:
        if exc.status != 404:  # a file gone since indexing still has its stored vector
            raise
    result = collection.index.search(collection.root / entry.path, k=k, metric=metric, candidates=candidates)
    hits = hits_out(collection, result)
    searched = time.perf_counter()
    if copies:
        _mark_copies(collection, query_file, hits)
    done = time.perf_counter()
    timing = SearchTiming(
        decode_ms=None,
        embed_ms=None,
        search_ms=ms(searched - started),
        copies_ms=ms(done - searched) if copies else None,
        total_ms=ms(done - started),
    )
    response.headers["Server-Timing"] = timing_header(timing)
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
    copies: bool = COPIES_QUERY,
) -> SearchOut:
    """Send the image as multipart/form-data in the field ``file`` (``curl -F file=@cat.jpg``) or as the
    raw body with ``Content-Type: image/…`` (``curl --data-binary @cat.jpg -H 'Content-Type:
    image/jpeg'``). It is kept in memory only. ``timing`` reports decoding and embedding apart from
    the search and the copy check (also in the ``Server-Timing`` header)."""
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
    searched = time.perf_counter()
    if copies and hits:
        await run_in_threadpool(_mark_upload_copies, state, upload, image, hits)
    done = time.perf_counter()
    timing = SearchTiming(
        decode_ms=ms(decoded - t0),
        embed_ms=ms(model_s),
        search_ms=ms(searched - embedded),
        copies_ms=ms(done - searched) if copies else None,
        total_ms=ms(done - started),
    )
    response.headers["Server-Timing"] = timing_header(timing)
    return _search_out(upload_query(upload), metric, k, result, hits, timing)
