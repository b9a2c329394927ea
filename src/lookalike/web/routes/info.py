"""``GET /api/info``: the index overview (images, model, weights, search structure, uploads, times)."""

from __future__ import annotations

from fastapi import APIRouter

from lookalike.formats import FORMATS, missing_reader
from lookalike.metrics import SEARCH_METRICS
from lookalike.scanning import skipped_lines
from lookalike.web.schemas import InfoOut, Preprocessing, StructureOut, UploadsOut
from lookalike.web.state import State
from lookalike.web.uploads import pixel_limit

__all__ = ["router"]

router = APIRouter(prefix="/api")


@router.get("/info", response_model=InfoOut, summary="The index overview")
def info(state: State) -> InfoOut:
    collection = state.collection
    d = collection.index.info()
    search = d.get("search")
    return InfoOut(
        location=d["location"],
        root=d["root"],
        version=collection.snapshot().version,
        images=d["images"],
        failed=d["failed"],
        skipped=skipped_lines((d.get("last_run") or {}).get("skipped")),
        formats=[f.name for f in FORMATS if missing_reader(f) is None],
        extensions=sorted(e for f in FORMATS if missing_reader(f) is None for e in f.extensions),
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
            max_bytes=state.upload_limit,
            max_pixels=pixel_limit(state.max_pixels),
        ),
        thumb_side=state.thumb_side,
    )
