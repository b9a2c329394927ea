"""The duplicates job (:class:`lookalike.web.collection.DuplicatesJob`): ``POST /api/duplicates``
starts it in the background, ``GET /api/duplicates`` shows its progress and then the groups with their
keepers, kept per index version, with the review decisions applied (:mod:`lookalike.web.review`); one group
to review, its keeper chosen by hand, and a member and its keeper aligned or their difference map."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Response
from fastapi import Path as PathParam

from lookalike.web.routes.common import IMAGE_ID, MAX_ID, errors, image_out, job_fields
from lookalike.web.schemas import DuplicatesOut, FailureOut, GroupOut, KeeperIn, MemberOut
from lookalike.web.state import AppState, State

if TYPE_CHECKING:
    from lookalike.web.review import ReviewGroup, ReviewMember

__all__ = ["duplicates_out", "group_out", "router"]

router = APIRouter(prefix="/api")


def _member_out(m: ReviewMember, root: str) -> MemberOut:
    d: dict[str, Any] = m.member.to_dict()
    links = image_out(m.entry) if m.entry is not None else None
    return MemberOut(
        id=m.id,
        path=m.entry.path if m.entry is not None else os.path.relpath(m.member.path, root),
        keeper=m.member.keeper,
        kind=d["kind"],
        width=m.member.width,
        height=m.member.height,
        bytes=m.member.bytes,
        ncc=d["ncc"],
        rmse=d["rmse"],
        ssim=d["fine"]["ssim"],
        colour=d["fine"]["colour"],
        thumb=links.thumb if links else None,
        full=links.full if links else None,
        sha256=m.sha256,
    )


def group_out(g: ReviewGroup, root: str) -> GroupOut:
    """A reviewed group as the API shows it."""
    return GroupOut(
        id=g.gid,
        keeper=g.keeper.id,
        kept_because=g.kept_because,
        chosen=g.chosen,
        members=[_member_out(m, root) for m in [g.keeper, *g.duplicates]],
        apart=[_member_out(m, root) for m in g.apart],
        stays=[_member_out(m, root) for m in g.stays],
    )


def duplicates_out(state: AppState) -> DuplicatesOut:
    """The job's state as the API shows it (the groups only once done, for the current index version, with
    the review decisions applied)."""
    collection = state.collection
    s = collection.duplicates.status()
    result = s["result"]
    groups: list[GroupOut] = []
    failures: list[FailureOut] = []
    root = str(collection.root)
    if result is not None:
        groups = [group_out(g, root) for g in state.review.groups()]
        failures = [FailureOut(path=os.path.relpath(p, root), reason=r) for p, r in result.failures]
    none_yet = 0 if s["state"] == "done" else None
    return DuplicatesOut(
        **job_fields(s),
        images=result.images if result is not None else none_yet,
        duplicates=sum(len(g.members) - 1 for g in groups) if result is not None else none_yet,
        groups=groups,
        failures=failures,
        resolved=len(result.groups) - len(groups) if result is not None else 0,
        can_move=state.review.move_to is not None and not state.review.read_only,
        read_only=state.review.read_only,
    )


@router.get("/duplicates", response_model=DuplicatesOut, summary="Duplicate groups, or the progress")
def duplicates(state: State) -> DuplicatesOut:
    """``idle`` until a POST starts the job; then ``working`` (with stage, done and total) and ``done``
    with the groups still to resolve, largest first, keeper first in each, review decisions applied."""
    return duplicates_out(state)


@router.post(
    "/duplicates",
    response_model=DuplicatesOut,
    status_code=202,
    summary="Start finding duplicates",
)
def find_duplicates(state: State) -> DuplicatesOut:
    """Starts the job in the background unless it runs already or its result for the current index
    version exists; poll GET /api/duplicates. (It reads files and changes nothing: allowed read-only.)"""
    state.collection.duplicates.start()
    return duplicates_out(state)


GROUP_ID = PathParam(ge=0, le=MAX_ID, description="The group's id in GET /api/duplicates.")


@router.get(
    "/duplicates/groups/{gid}",
    response_model=GroupOut,
    responses=errors(404, 409, 422),
    summary="One group to review",
)
def group(state: State, gid: int = GROUP_ID) -> GroupOut:
    """The group with its keeper, duplicates, members set apart and files that stay."""
    return group_out(state.review.group(gid), str(state.collection.root))


@router.post(
    "/duplicates/groups/{gid}/keeper",
    response_model=GroupOut | None,
    responses=errors(400, 403, 404, 409, 422),
    summary="Choose the file a group keeps",
)
def choose_keeper(body: KeeperIn, state: State, gid: int = GROUP_ID) -> GroupOut | None:
    """Keep image ``id`` (one of the group's files): remembered by content hash, and every other file
    checked against it again (those that are no duplicate of it stay). The rule's own keeper takes the
    choice back. Answers the group as it now is (null when no duplicate of the chosen keeper is left)."""
    g = state.review.choose_keeper(gid, body.id, body.version)
    return None if g is None else group_out(g, str(state.collection.root))


_VIEW_RESPONSE = {
    "description": "The keeper's region or the member's (JPEG), or the difference map (PNG, translucent).",
    "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in ("image/jpeg", "image/png")},
}


@router.get(
    "/duplicates/groups/{gid}/members/{image_id}/{view}",
    responses={200: _VIEW_RESPONSE, **errors(403, 404, 409, 422)},
    response_class=Response,
    summary="A member and its keeper aligned, or where they differ",
)
def member_view(
    state: State,
    view: Literal["keeper", "member", "difference"],
    gid: int = GROUP_ID,
    image_id: int = IMAGE_ID,
) -> Response:
    """``keeper``: the part of the keeper the member shows; ``member``: the member turned back into the
    keeper's orientation, at the same size (an overlay or a swipe lines them up); ``difference``: the SSIM
    of each tile of the two as a red map, clear where they match."""
    data, media = state.review.view(gid, image_id, view)
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=60"})
