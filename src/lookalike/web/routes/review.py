"""Review decisions and moves (:class:`lookalike.web.review.Review`): "not duplicates" remembered and taken
back, the duplicates of chosen groups moved into the server's move folder, and moves undone. Every change
is a POST (so the origin check applies) and is refused by a read-only server."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.types import DecoratedCallable

from lookalike.web.routes.common import errors
from lookalike.web.schemas import (
    DecisionOut,
    DecisionsOut,
    DistinctIn,
    ForgetIn,
    MoveIn,
    MoveLogOut,
    MovesOut,
    UndoIn,
)
from lookalike.web.state import AppState, State

__all__ = ["moves_out", "router"]

router = APIRouter(prefix="/api")


@router.get("/decisions", response_model=DecisionsOut, summary="Review decisions")
def decisions(state: State) -> DecisionsOut:
    """Every pair marked not duplicates and every keeper chosen by hand, newest first."""
    return DecisionsOut(
        decisions=[DecisionOut(**d.to_dict()) for d in state.review.decisions.all()]  # type: ignore[arg-type]
    )


@router.post(
    "/decisions",
    response_model=DecisionOut,
    responses=errors(400, 403, 404, 409, 422),
    summary="Mark two images as not duplicates",
)
def mark_distinct(body: DistinctIn, state: State) -> DecisionOut:
    """Remember, by the files' content, that images ``a`` and ``b`` are not duplicates: they are never
    grouped again, here or by ``lookalike dedup``, even once moved or renamed."""
    return DecisionOut(**state.review.mark_distinct(body.a, body.b).to_dict())  # type: ignore[arg-type]


@router.post(
    "/decisions/forget",
    response_model=DecisionsOut,
    responses=errors(400, 403, 422),
    summary="Take back a not-duplicates decision",
)
def forget(body: ForgetIn, state: State) -> DecisionsOut:
    """Forget that the files with SHA-256 ``a`` and ``b`` are not duplicates; the decisions left."""
    state.review.forget(body.a, body.b)
    return decisions(state)


def moves_out(state: AppState) -> MovesOut:
    review = state.review
    return MovesOut(
        **review.moves.status(),
        move_to=None if review.move_to is None else str(review.move_to),
        read_only=review.read_only,
        logs=[MoveLogOut(**log) for log in review.logs()],
    )


@router.get("/moves", response_model=MovesOut, summary="The move job and the move logs")
def moves(state: State) -> MovesOut:
    """The running (or last) move or undo with its progress, the move folder, and its move logs."""
    return moves_out(state)


def _move_job(path: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``router.post`` for a route that starts the move job in the background: 202, and the moves."""
    return router.post(
        path,
        response_model=MovesOut,
        status_code=202,
        responses=errors(400, 403, 404, 409, 422),
        summary=summary,
    )


@_move_job("/moves", "Move the duplicates of groups")
def move(body: MoveIn, state: State) -> MovesOut:
    """Move the duplicates of the groups named (all groups when null) into the move folder the server was
    started with, at their paths in the indexed folder; keepers, files set apart and files that stay never
    move. Runs in the background: poll GET /api/moves. Undo with POST /api/moves/undo or ``lookalike dedup
    --undo LOG``."""
    state.review.start_moves(body.groups, body.version)
    return moves_out(state)


@_move_job("/moves/undo", "Put back the files of a move log")
def undo(body: UndoIn, state: State) -> MovesOut:
    """Put every file that move log ``log`` (a name from GET /api/moves) moved back where it was — moves
    made here or by ``lookalike dedup --move-to`` into the same folder."""
    state.review.start_undo(body.log)
    return moves_out(state)
