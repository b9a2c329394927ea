"""Near-duplicate groups in a collection, a keeper for each, and reversible moves of the rest.

Class-trained features cannot tell a copy from another photo of the same kind of thing, and tiny
thumbnails cannot tell two pages of one layout apart, so duplicates are found from pixels at two scales:

1. **Candidates** (:mod:`~lookalike.dedup.coarse`) — every image's ``neighbours`` nearest images by
   normalized cross-correlation of 8×8 RGB thumbnails, the image itself and its mirror image as queries
   (exact search with FAISS); plus, when deep feature vectors are given, each image's nearest images by
   cosine similarity. Files with the same bytes are exact copies without further checks.
2. **Coarse check** — 12×12 RGB thumbnails at their best alignment (as is, mirrored, one side cut to any of
   22 boxes covering ≥ 88% of its area): NCC ≥ ``min_ncc`` and RMSE ≤ ``max_rmse``. Cheap, and lets every
   re-encode, resize, flip and crop through — but also two pages of text in one layout.
3. **Fine check** (:mod:`~lookalike.dedup.fine`) — at up to 256 px, where distinct content differs: the
   alignment is refined, then the lowest tile SSIM must reach ``min_ssim`` and the largest tile colour
   difference stay within ``max_colour``. Pages of different words, app windows whose text differs and
   objects moved or recoloured fail here.
4. **Groups** (:mod:`~lookalike.dedup.grouping`) — an image joins a group only as a verified duplicate of
   the keeper itself, never by resembling another member.
5. **Keeper** — the largest pixel count, then the largest file, then the oldest (mtime), then the path.

``strictness`` (``strict``, ``normal``, ``loose``) sets all four thresholds at once (:data:`STRICTNESS`).
Nothing is deleted: :func:`move_duplicates` moves the non-keepers into a folder and logs each move to a
JSON-lines file that :func:`undo_moves` reverses. NumPy, Pillow and FAISS only: no torch unless deep
features are asked for.

>>> from lookalike.dedup import find_duplicates, move_duplicates, undo_moves
>>> result = find_duplicates("photos/")  # doctest: +SKIP
>>> [(g.keeper.name, [m.path.name for m in g.duplicates]) for g in result.groups]  # doctest: +SKIP
[('beach.jpg', ['beach-small.jpg', 'beach-copy.jpg'])]
>>> log = move_duplicates(result, "duplicates/")  # doctest: +SKIP
>>> undo_moves(log)  # doctest: +SKIP
"""

from lookalike.dedup.coarse import CROP_BOXES
from lookalike.dedup.find import find_duplicates, verify_pair
from lookalike.dedup.keeper import KEEP_POLICIES, KeepPolicy, parse_keep
from lookalike.dedup.moves import (
    MOVE_LOG_FORMAT,
    MOVE_LOG_VERSION,
    Move,
    UndoReport,
    move_duplicates,
    plan_moves,
    read_move_log,
    undo_moves,
)
from lookalike.dedup.orientation import Orientation
from lookalike.dedup.reading import Progress
from lookalike.dedup.results import DedupResult, DuplicateGroup, Member, PairCheck
from lookalike.dedup.strictness import MAX_COLOUR, MAX_RMSE, MIN_NCC, MIN_SSIM, STRICTNESS, Strictness

__all__ = [
    "CROP_BOXES",
    "KEEP_POLICIES",
    "MAX_COLOUR",
    "MAX_RMSE",
    "MIN_NCC",
    "MIN_SSIM",
    "MOVE_LOG_FORMAT",
    "MOVE_LOG_VERSION",
    "STRICTNESS",
    "DedupResult",
    "DuplicateGroup",
    "KeepPolicy",
    "Member",
    "Move",
    "Orientation",
    "PairCheck",
    "Progress",
    "Strictness",
    "UndoReport",
    "find_duplicates",
    "move_duplicates",
    "parse_keep",
    "plan_moves",
    "read_move_log",
    "undo_moves",
    "verify_pair",
]
