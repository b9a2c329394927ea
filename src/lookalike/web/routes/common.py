"""What several routers share: the OpenAPI descriptions of errors, uploads and images, the common
parameters, the conversion of index rows and uploads to the API's models, and ``Server-Timing``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from lookalike.collection.records import Entry, SearchResult
from lookalike.metrics import SEARCH_METRICS
from lookalike.web.collection import Collection, content_key
from lookalike.web.schemas import ErrorOut, HitOut, ImageOut, QueryOut
from lookalike.web.uploads import Upload

__all__ = [
    "CANDIDATES_QUERY",
    "IMAGE_ID",
    "IMAGE_RESPONSE",
    "K_QUERY",
    "MAX_ID",
    "MAX_K",
    "METRIC_QUERY",
    "THUMB_RESPONSE",
    "errors",
    "hits_out",
    "id_query",
    "image_out",
    "indexed_get",
    "indexed_query",
    "job_fields",
    "ms",
    "server_timing",
    "timing_header",
    "upload_body",
    "upload_query",
]

MAX_K = 100
MAX_ID = 2**63 - 1

_ERROR_TEXT = {
    400: "Bad request",
    403: "Not served: the file lies outside the indexed folder",
    404: "No such image",
    409: "The index cannot do this now (e.g. a file is unreadable, or the weights are gone)",
    413: "Upload larger than the limit",
    415: "Upload sent in a way the server cannot read",
    422: "Invalid parameters or an upload that is not a readable image",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that may answer with these error statuses."""
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}


def indexed_get(
    router: APIRouter, path: str, summary: str, *, ok: dict[str, Any] | None = None, **options: Any
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``router.get`` for a route that reads indexed images, with the errors that may bring: 403 (the
    file lies outside the indexed folder), 404 (no such id), 409 (unreadable) and 422. ``ok`` describes
    a 200 response that is not JSON; ``options`` go to ``router.get`` as they are."""
    responses: dict[int | str, dict[str, Any]] = {200: ok} if ok is not None else {}
    return router.get(path, responses={**responses, **errors(403, 404, 409, 422)}, summary=summary, **options)


def upload_body(fields: Sequence[str], required: Sequence[str]) -> dict[str, Any]:
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


def id_query(description: str, default: Any = ...) -> Any:
    """A query parameter that names an indexed image by its id (required unless ``default`` is given)."""
    return Query(default, ge=0, le=MAX_ID, description=description)


K_QUERY = Query(10, ge=1, le=MAX_K, description="How many look-alikes.")
_RERANKING = ", ".join(m for m in SEARCH_METRICS if m != "cosine")
METRIC_QUERY = Query(
    "cosine",
    description=f"cosine (the search structure's order), or {_RERANKING} re-ranking its candidates.",
)
CANDIDATES_QUERY = Query(
    None,
    ge=1,
    le=10_000,
    description="Cosine candidates re-ranked by another metric; default max(10·k, 100).",
)


def job_fields(status: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~lookalike.web.schemas.JobOut` fields of a background job's ``status()``."""
    keys = ("state", "version", "stage", "done", "total", "started", "error")
    seconds = status["seconds"]
    return {**{k: status[k] for k in keys}, "seconds": None if seconds is None else round(seconds, 3)}


def ms(seconds: float) -> float:
    """Seconds as milliseconds, to the microsecond."""
    return round(seconds * 1000, 3)


def server_timing(**durations: float | None) -> str:
    """A ``Server-Timing`` header value: ``name;dur=ms`` for each duration measured."""
    return ", ".join(f"{name};dur={ms:.2f}" for name, ms in durations.items() if ms is not None)


def timing_header(timing: BaseModel) -> str:
    """The ``Server-Timing`` value of an answer's timing (its ``…_ms`` fields, in their order)."""
    return server_timing(**{name.removesuffix("_ms"): value for name, value in timing.model_dump().items()})


def image_out(e: Entry) -> ImageOut:
    """An index row as the API shows an image, with the URLs of its thumbnail and file."""
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
    """An indexed image as the query (or a side) of a search or comparison."""
    return QueryOut(kind="indexed", **image_out(e).model_dump(exclude={"full"}))


def upload_query(u: Upload) -> QueryOut:
    """An upload as the query (or a side) of a search or comparison."""
    w, h = u.size or (None, None)
    return QueryOut(kind="upload", name=u.filename or None, width=w, height=h, bytes=len(u.data))


def hits_out(collection: Collection, result: SearchResult) -> list[HitOut]:
    """The hits of ``result`` as images, leaving out any removed from the index since the search began."""
    snap = collection.snapshot()
    out = []
    for h in result.hits:
        image_id = snap.id_of.get(h.relpath)
        if image_id is None:  # removed from the index since the search began
            continue
        out.append(HitOut(rank=h.rank, score=h.score, **image_out(snap.by_id[image_id]).model_dump()))
    return out
