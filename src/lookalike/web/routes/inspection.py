"""The inspection job (:class:`lookalike.web.collection.InspectJob`): ``POST /api/inspect`` starts
:func:`lookalike.inspection.inspect_folder` over the served images in the background (the index's own
vectors for outliers), ``GET /api/inspect`` shows its progress and then the findings, each with the ids and
thumbnails of its image (and of the other file of a copy). Read-only: nothing is changed."""

from __future__ import annotations

from fastapi import APIRouter, Query

from lookalike.inspection import KINDS
from lookalike.web.routes.common import errors, image_out, job_fields
from lookalike.web.schemas import InspectFindingOut, InspectOut
from lookalike.web.state import AppState, State

__all__ = ["router"]

router = APIRouter(prefix="/api")

LIMIT_QUERY = Query(
    60, ge=0, le=10_000, description="Findings listed per kind (worst first); counts are whole."
)


def inspect_out(state: AppState, limit: int) -> InspectOut:
    collection = state.collection
    s = collection.inspection.status()
    report = s["result"]
    findings: list[InspectFindingOut] = []
    counts = dict.fromkeys(KINDS, 0)
    notes: list[str] = []
    if report is not None:
        counts = report.counts()
        notes = report.notes
        snap = collection.snapshot()
        shown: dict[str, int] = {}

        def side(path: object) -> tuple[int | None, str | None, str | None]:
            image_id = s["ids"].get(str(path)) if path is not None else None
            e = snap.by_id.get(image_id) if image_id is not None else None
            if e is None:
                return None, None, None
            out = image_out(e)
            return out.id, out.path, out.thumb

        for f in report.findings:
            if shown.get(f.kind, 0) >= limit:
                continue
            shown[f.kind] = shown.get(f.kind, 0) + 1
            image_id, path, thumb = side(f.path)
            other_id, other_path, other_thumb = side(f.other)
            findings.append(
                InspectFindingOut(
                    kind=f.kind,
                    score=f.score,
                    id=image_id,
                    path=path or str(f.path),
                    thumb=thumb,
                    other_id=other_id,
                    other_path=other_path,
                    other_thumb=other_thumb,
                    evidence={
                        k: v for k, v in f.evidence.items() if isinstance(v, (str, int, float)) or v is None
                    },
                )
            )
    return InspectOut(
        **job_fields(s),
        images=report.images if report is not None else None,
        counts=counts,
        notes=notes,
        findings=findings,
    )


@router.get(
    "/inspect",
    response_model=InspectOut,
    responses=errors(422),
    summary="What in the collection will hurt a model",
)
def inspection(state: State, limit: int = LIMIT_QUERY) -> InspectOut:
    """``idle`` until a POST starts the job; then ``working`` with progress, and ``done`` with the counts
    per kind and the findings, worst first within each kind (``limit`` per kind)."""
    return inspect_out(state, limit)


@router.post(
    "/inspect",
    response_model=InspectOut,
    status_code=202,
    responses=errors(422),
    summary="Start inspecting the collection",
)
def start_inspection(state: State, limit: int = LIMIT_QUERY) -> InspectOut:
    """Starts the job in the background unless it runs already or its result for the current index version
    exists; poll GET /api/inspect. (It reads files and changes nothing: allowed read-only.)"""
    state.collection.inspection.start()
    return inspect_out(state, limit)
