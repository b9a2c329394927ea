"""Two images side by side: L1, MSE, cosine and NCC on their preprocessed pixels and on the model's
features (:func:`lookalike.compare.compare`). ``GET /api/compare?a=…&b=…`` compares indexed images;
``POST /api/compare`` takes either side as an upload (form fields ``a``, ``b``) instead."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lookalike.compare import compare
from lookalike.web.routes.common import (
    errors,
    id_query,
    indexed_get,
    indexed_query,
    ms,
    timing_header,
    upload_body,
    upload_query,
)
from lookalike.web.schemas import CompareOut, CompareTiming, QueryOut, Scores
from lookalike.web.state import AppState, State
from lookalike.web.uploads import Upload, UploadError, decode_upload, read_uploads

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["router"]

router = APIRouter(prefix="/api")

Side = tuple[QueryOut, "Image.Image"]


def run_compare(state: AppState, sides: list[Side], decode_s: float, started: float) -> CompareOut:
    """Compare the two pictures of ``sides`` with the served index's model (one request at a time)."""
    t0 = time.perf_counter()
    with state.collection.model() as embedder:
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
        timing=CompareTiming(decode_ms=ms(decode_s), compare_ms=ms(t1 - t0), total_ms=ms(t1 - started)),
    )


def indexed_side(state: AppState, image_id: int) -> Side:
    """Image ``image_id`` of the index: how the answer names it, and its picture."""
    entry = state.collection.entry(image_id)
    return indexed_query(entry), state.collection.load(entry, draft=state.draft)


def upload_side(state: AppState, uploads: dict[str, Upload], name: str, image_id: int | None) -> Side:
    """Side ``name``: the upload in form field ``name`` or indexed image ``image_id``, exactly one."""
    upload = uploads.get(name)
    if upload is not None and image_id is not None:
        raise UploadError(422, f"image {name} is given twice (?{name}= and an upload); give one")
    if upload is not None:
        picture = decode_upload(upload, max_pixels=state.max_pixels, draft=state.draft)
        return upload_query(upload), picture
    if image_id is None:
        raise UploadError(422, f"give image {name} as an id (?{name}=ID) or an upload (form field {name!r})")
    return indexed_side(state, image_id)


def _timed(response: Response, out: CompareOut) -> CompareOut:
    response.headers["Server-Timing"] = timing_header(out.timing)
    return out


@indexed_get(router, "/compare", "Compare two indexed images", response_model=CompareOut)
def compare_ids(
    state: State,
    response: Response,
    a: int = id_query("Id of the first image."),
    b: int = id_query("Id of the second image."),
) -> CompareOut:
    started = time.perf_counter()
    sides = [indexed_side(state, a), indexed_side(state, b)]
    return _timed(response, run_compare(state, sides, time.perf_counter() - started, started))


@router.post(
    "/compare",
    response_model=CompareOut,
    responses=errors(403, 404, 409, 413, 415, 422),
    openapi_extra=upload_body(["a", "b"], []),
    summary="Compare two images, uploaded or indexed",
)
async def compare_uploads(
    state: State,
    request: Request,
    response: Response,
    a: int | None = id_query("Id of the first image, unless uploaded as a.", None),
    b: int | None = id_query("Id of the second image, unless uploaded as b.", None),
) -> CompareOut:
    """Each side is an indexed image (``?a=ID``) or an upload (multipart field ``a``), not both."""
    started = time.perf_counter()
    uploads = await read_uploads(
        request.headers, request.stream(), files=["a", "b"], limit=state.upload_limit
    )
    sides = await run_in_threadpool(
        lambda: [upload_side(state, uploads, "a", a), upload_side(state, uploads, "b", b)]
    )
    out = await run_in_threadpool(run_compare, state, sides, time.perf_counter() - started, started)
    return _timed(response, out)
