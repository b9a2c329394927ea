"""What the routes share: one :class:`AppState` per app, set by :func:`lookalike.web.app.create_app` (or
by a test that mounts one router on a bare app) and handed to each route by the :data:`State` dependency.

>>> app.state.lookalike = AppState(collection, upload_limit=20 * 1024**2)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from lookalike.web.collection import THUMB_SIDE
from lookalike.web.review import Review

if TYPE_CHECKING:
    from lookalike.web.collection import Collection

__all__ = ["AppState", "State", "get_state"]

#: The side a query picture is decoded to at least when the index's preprocessing does not say.
DEFAULT_DRAFT_SIDE = 256


@dataclass(frozen=True)
class AppState:
    """The served index and the limits the app was made with.

    ``upload_limit`` is the largest upload in bytes; ``max_pixels`` the decompression-bomb limit
    (``None``: :func:`lookalike.images.load_image`'s); ``thumb_side`` the longest side of a thumbnail;
    ``draft`` the smallest size a JPEG query may be decoded at (the model's resize side, both ways);
    ``given_review`` the decisions and moves (:class:`lookalike.web.review.Review`), read as :attr:`review`.
    """

    collection: Collection
    upload_limit: int
    max_pixels: int | None = None
    thumb_side: int = THUMB_SIDE
    draft: tuple[int, int] = (DEFAULT_DRAFT_SIDE, DEFAULT_DRAFT_SIDE)
    given_review: Review | None = None

    @cached_property
    def review(self) -> Review:
        """The review side: the one given, else one over ``collection`` that moves nothing (made on first
        use, so a router mounted alone over a stand-in collection need not have one)."""
        if self.given_review is not None:
            return self.given_review
        return Review(self.collection)

    @classmethod
    def of(
        cls,
        collection: Collection,
        *,
        upload_limit: int,
        max_pixels: int | None,
        thumb_side: int,
        review: Review | None = None,
    ) -> AppState:
        """The state of an app over ``collection``, its draft size taken from the index's preprocessing."""
        made_by = collection.index.made_by
        side = int(made_by.get("resize_size") or made_by.get("crop_size") or DEFAULT_DRAFT_SIDE)
        return cls(collection, upload_limit, max_pixels, thumb_side, (side, side), review)


def get_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request`` (``app.state.lookalike``)."""
    state = request.app.state.lookalike
    assert isinstance(state, AppState), "the app has no AppState; set app.state.lookalike"
    return state


#: A route's parameter ``state: State`` receives the app's :class:`AppState` (no request parameter).
State = Annotated[AppState, Depends(get_state)]
