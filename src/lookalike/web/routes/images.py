"""The indexed images, by id only (no route takes a path): the listing, one image's facts, its
thumbnail (made once and cached) and the file itself (read only inside the indexed folder)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from lookalike.web.collection import content_key
from lookalike.web.routes.common import (
    IMAGE_ID,
    IMAGE_RESPONSE,
    MAX_ID,
    THUMB_RESPONSE,
    errors,
    image_out,
    indexed_get,
    ms,
)
from lookalike.web.schemas import ImageOut, ImagesPage
from lookalike.web.state import State

__all__ = ["router"]

router = APIRouter(prefix="/api")


@router.get("/images", response_model=ImagesPage, responses=errors(422), summary="List indexed images")
def images(
    state: State,
    offset: int = Query(0, ge=0, le=MAX_ID, description="Images to skip."),
    limit: int = Query(60, ge=1, le=500, description="Images to return."),
    order: Literal["path", "random"] = Query("path", description="By path, or shuffled by seed."),
    seed: int = Query(0, ge=0, le=2**32 - 1, description="The shuffle, for order=random."),
    q: str | None = Query(None, max_length=200, description="Only paths containing this (any case)."),
) -> ImagesPage:
    entries = state.collection.snapshot().entries
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


@router.get("/images/{image_id}", response_model=ImageOut, responses=errors(404, 422), summary="One image")
def image(state: State, image_id: int = IMAGE_ID) -> ImageOut:
    return image_out(state.collection.entry(image_id))


@indexed_get(
    router, "/images/{image_id}/thumb", "An image's thumbnail", ok=THUMB_RESPONSE, response_class=Response
)
def thumb(
    state: State,
    image_id: int = IMAGE_ID,
    v: str | None = Query(None, max_length=64, description="Content tag from the listing (caching)."),
) -> Response:
    started = time.perf_counter()
    entry = state.collection.entry(image_id)
    data, cached = state.collection.thumbnail(entry)
    key = content_key(entry)
    source = "cache" if cached else "made"
    headers = {
        "Cache-Control": "private, max-age=31536000, immutable" if v == key else "no-cache",
        "ETag": f'"{key}-{state.thumb_side}"',
        "Server-Timing": f'thumb;dur={ms(time.perf_counter() - started):.2f};desc="{source}"',
    }
    if isinstance(data, Path):
        return FileResponse(data, media_type="image/jpeg", headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


@indexed_get(
    router, "/images/{image_id}/full", "The image itself", ok=IMAGE_RESPONSE, response_class=Response
)
def full(state: State, image_id: int = IMAGE_ID) -> Response:
    entry = state.collection.entry(image_id)
    data, media = state.collection.original(entry)
    headers = {"Cache-Control": "no-cache"}
    if isinstance(data, Path):
        name = Path(entry.path).name
        return FileResponse(
            data, media_type=media, headers=headers, filename=name, content_disposition_type="inline"
        )
    return Response(data, media_type=media, headers=headers)
