"""The duplicates job (:class:`lookalike.web.collection.DuplicatesJob`): ``POST /api/duplicates``
starts it in the background, ``GET /api/duplicates`` shows its progress and then the groups with their
keepers, kept per index version. Read-only: nothing is moved."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from lookalike.web.collection import Collection, Snapshot
from lookalike.web.routes.common import image_out
from lookalike.web.schemas import DuplicatesOut, FailureOut, GroupOut, MemberOut
from lookalike.web.state import State

if TYPE_CHECKING:
    from lookalike.dedup import DedupResult

__all__ = ["duplicates_out", "router"]

router = APIRouter(prefix="/api")


def _groups(result: DedupResult, ids: dict[str, int], snap: Snapshot, root: str) -> list[GroupOut]:
    groups: list[GroupOut] = []
    for g in result.groups:
        members = []
        for m in g.members:
            image_id = ids.get(str(m.path))
            e = snap.by_id.get(image_id) if image_id is not None else None
            links = image_out(e) if e is not None else None
            d: dict[str, Any] = m.to_dict()
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
    return groups


def duplicates_out(collection: Collection) -> DuplicatesOut:
    """The job's state as the API shows it (the groups only once done, for the current index version)."""
    s = collection.duplicates.status()
    result = s["result"]
    groups: list[GroupOut] = []
    failures: list[FailureOut] = []
    if result is not None:
        root = str(collection.root)
        groups = _groups(result, s["ids"], collection.snapshot(), root)
        failures = [FailureOut(path=os.path.relpath(p, root), reason=r) for p, r in result.failures]
    none_yet = 0 if s["state"] == "done" else None
    return DuplicatesOut(
        state=s["state"],
        version=s["version"],
        stage=s["stage"],
        done=s["done"],
        total=s["total"],
        started=s["started"],
        seconds=None if s["seconds"] is None else round(s["seconds"], 3),
        error=s["error"],
        images=result.images if result is not None else none_yet,
        duplicates=result.duplicates if result is not None else none_yet,
        groups=groups,
        failures=failures,
    )


@router.get("/duplicates", response_model=DuplicatesOut, summary="Duplicate groups, or the progress")
def duplicates(state: State) -> DuplicatesOut:
    """``idle`` until a POST starts the job; then ``working`` (with stage, done and total) and ``done``
    with the groups, largest first, keeper first in each. Read-only: nothing is moved."""
    return duplicates_out(state.collection)


@router.post(
    "/duplicates",
    response_model=DuplicatesOut,
    status_code=202,
    summary="Start finding duplicates",
)
def find_duplicates(state: State) -> DuplicatesOut:
    """Starts the job in the background unless it runs already or its result for the current index
    version exists; poll GET /api/duplicates."""
    state.collection.duplicates.start()
    return duplicates_out(state.collection)
