"""Near-duplicate groups in a collection, the best file of each kept, and reversible moves of the rest.

Class-trained features cannot tell a copy from another photo of the same kind of thing, and tiny
thumbnails cannot tell two pages of one layout apart, so duplicates are found from pixels at three scales:

1. **Reading** (:mod:`~lookalike.dedup.reading`) — each file decoded once: its content box (uniform
   borders up to a quarter of each side trimmed, :mod:`~lookalike.dedup.borders`), what stands on a plain
   background (its box, its ink's centre and spread: :mod:`~lookalike.dedup.subjects`), a 32×32 colour
   thumbnail of the whole image and of the content box, and a grey thumbnail of up to 256 px.
2. **Candidates** (:mod:`~lookalike.dedup.candidates`) — 8×8 thumbnails in a canonical orientation
   (:mod:`~lookalike.dedup.orientation`: copies turned by quarter turns or mirrored share it), each
   image's ``neighbours`` nearest by normalized cross-correlation, and the nearest of its middle 88% (a
   crop meets its original); FAISS, exact up to 20,000 images and an inverted file past that. Deep
   features, when given, add each image's nearest by cosine similarity. Files with the same bytes are
   exact copies without further checks.
3. **Coarse check** (:mod:`~lookalike.dedup.coarse`) — 12×12 thumbnails at the best alignment: the
   orientation found, and for pairs that fail as they are, one side cut to any box keeping ≥ 75% of the
   area, or to the crop or frame that the boxes and ink of what stands on a plain background imply
   (:mod:`~lookalike.dedup.subjects`: a shape on white in a white frame, a code cut through); NCC ≥
   ``min_ncc`` and RMSE after a bounded tone map (:mod:`~lookalike.dedup.photometric`) ≤ ``max_rmse``.
   Cheap, and lets every re-encode, resize, turn, crop and tone edit through — but also two pages of text
   in one layout.
4. **Fine check** (:mod:`~lookalike.dedup.fine`) — at up to 256 px, where distinct content differs: the
   alignment is refined (and small turns of a scan found; where that falls short, from the subjects'
   alignment and a second look at every crop box), then the lowest tile SSIM must reach
   ``min_ssim`` and the largest tile colour difference stay within ``max_colour``; for large images the
   **close-up** (:mod:`~lookalike.dedup.closeup`) compares at up to 1,536 px, where one digit of a total
   differs. Pages of different words, receipts of one shop with other totals, app windows whose text
   differs and objects moved or recoloured fail here.
5. **Groups** (:mod:`~lookalike.dedup.grouping`) — an image joins a group only as a verified duplicate of
   the keeper itself, never by resembling another member; a copy that passes against two distinct
   keepers (a small copy of one of two receipts whose totals differ) joins the one its own pixels show
   where the two differ, and neither when it cannot tell them apart.
6. **Keeper** (:mod:`~lookalike.dedup.keeper`, :mod:`~lookalike.dedup.quality`) — by default the best
   file: lossless over lossy, the higher JPEG quality (from its quantisation tables), more pixels, no
   added border, sharper, then the older capture time; ``keep`` chooses another rule
   (``largest``, ``oldest``, ``newest``, ``in:FOLDER``), and each group says why (``kept_because``).

``strictness`` (``strict``, ``normal``, ``loose``, or a :class:`Strictness`) sets the thresholds at once
(:data:`STRICTNESS`). ``against`` reference folders report only the new files that copy a reference file,
which is never moved. Nothing is deleted: :func:`move_duplicates` moves the non-keepers into a folder and
logs each move to a JSON-lines file that :func:`undo_moves` reverses. NumPy, Pillow and FAISS only: no
torch unless deep features are asked for. :func:`mark_copies` runs the same checks between a search's query
and its hits (:mod:`~lookalike.dedup.same_picture`): which of them are the same picture.

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
    run_moves,
    undo_moves,
)
from lookalike.dedup.orientation import Orientation
from lookalike.dedup.reading import Progress
from lookalike.dedup.results import DedupResult, DuplicateGroup, Member, PairCheck
from lookalike.dedup.same_picture import CopyMark, mark_copies, same_picture
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
    "CopyMark",
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
    "mark_copies",
    "move_duplicates",
    "parse_keep",
    "plan_moves",
    "read_move_log",
    "run_moves",
    "same_picture",
    "undo_moves",
    "verify_pair",
]
