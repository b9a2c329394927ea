"""Acting on duplicates from the page: the groups as a reviewer sees them, decisions, and moves with undo.

:class:`Review` turns the duplicates job's result (:class:`lookalike.web.collection.DuplicatesJob`) into
the groups the page shows, with the review decisions of :mod:`lookalike.dedup.decisions` applied as they
are made: a keeper chosen by hand keeps the group (every other member checked against it again with
:func:`lookalike.dedup.review.rejudge`; one that is no duplicate of it *stays*), a member marked "not a
duplicate" of its keeper is set *apart*, and a file no longer on disk (moved) leaves its group; a group left
without a duplicate is resolved and no longer listed.

Moves go only into the folder given at start (``serve --move-to DIR``), never to a path a request names:
the browser says which groups, the server decides which files (the duplicates of each group's keeper) and
where (``DIR`` + their path in the indexed folder), each target checked to resolve inside ``DIR``. They run
in the background with progress and write the same move log as ``lookalike dedup --move-to``, so either
side undoes the other's moves; an undo from the page takes a log of ``DIR`` by name and checks that every
file it would touch lies inside the indexed folder or ``DIR``.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lookalike.dedup.decisions import Decision, pair_key
from lookalike.dedup.moves import Move, free_name, read_move_log, run_moves, undo_moves
from lookalike.dedup.review import REVIEW_SIDE, aligned_pair, difference_image, rejudge
from lookalike.errors import ImageError, LookalikeError
from lookalike.hashing import file_sha256
from lookalike.web.collection import ServeError

if TYPE_CHECKING:
    from lookalike.collection.records import Entry
    from lookalike.dedup.results import DedupResult, DuplicateGroup, Member
    from lookalike.web.collection import Collection

__all__ = ["MoveJob", "Review", "ReviewGroup", "ReviewMember", "check_move_folder"]

#: Rendered review pictures kept in memory (keeper, member and difference views).
_VIEW_CACHE = 256
_LOG_NAME = re.compile(r"^lookalike-dedup-[\w.-]+\.jsonl$")
View = Literal["keeper", "member", "difference"]


@dataclass(frozen=True)
class ReviewMember:
    """A member of a reviewed group: its index id and row (``None`` when no longer indexed), its content
    hash and the dedup :class:`~lookalike.dedup.results.Member` (scores and relation to the keeper)."""

    id: int | None
    entry: Entry | None
    sha256: str | None
    member: Member


@dataclass(frozen=True)
class ReviewGroup:
    """A group as the page shows it: ``gid`` (its place in the job's result), the keeper, the duplicates
    a move takes, the members set ``apart`` (marked not duplicates of the keeper), the members that
    ``stay`` (no duplicate of a keeper chosen by hand), why the keeper, and whether it was chosen."""

    gid: int
    keeper: ReviewMember
    duplicates: list[ReviewMember]
    apart: list[ReviewMember]
    stays: list[ReviewMember]
    kept_because: str
    chosen: bool


def check_move_folder(move_to: str | os.PathLike[str], root: Path) -> Path:
    """The absolute ``--move-to`` folder of a server over the folder ``root``: refused inside ``root``
    (the moved files would be indexed again) and when it is a file. It is made when the first move runs."""
    dest = Path(move_to).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise LookalikeError(f"--move-to {move_to}: is a file, not a folder; pass a folder")
    real, real_root = os.path.realpath(dest), os.path.realpath(root)
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise LookalikeError(
            f"--move-to {move_to}: lies inside the indexed folder {root}, where the moved files would be "
            "indexed again; pass a folder outside it, e.g. next to it"
        )
    return dest


def _inside(path: str | os.PathLike[str], folder: str) -> bool:
    """Whether ``path`` resolves (through every symbolic link of its folders) inside real folder
    ``folder``; the file itself need not exist."""
    parent = os.path.realpath(Path(path).absolute().parent)
    return parent == folder or parent.startswith(folder.rstrip(os.sep) + os.sep)


@dataclass
class MoveJob:
    """One move (or undo) at a time, in the background: its state and progress, and the log it wrote."""

    state: Literal["idle", "working", "done", "failed"] = "idle"
    kind: Literal["move", "undo"] | None = None
    done: int = 0
    total: int = 0
    log: str | None = None
    error: str | None = None
    restored: int | None = None
    finished: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": self.state,
                "kind": self.kind,
                "done": self.done,
                "total": self.total,
                "log": self.log,
                "error": self.error,
                "restored": self.restored,
                "finished": self.finished,
            }

    def begin(self, kind: Literal["move", "undo"], total: int) -> None:
        with self._lock:
            if self.state == "working":
                raise ServeError(409, "a move is running", "wait for it to finish (GET /api/moves)")
            self.state, self.kind, self.done, self.total = "working", kind, 0, total
            self.log = self.error = None
            self.restored = self.finished = None

    def progress(self, done: int, total: int) -> None:
        with self._lock:
            self.done, self.total = done, total

    def finish(
        self, *, log: str | None = None, error: str | None = None, restored: int | None = None
    ) -> None:
        with self._lock:
            self.state = "failed" if error else "done"
            self.log, self.error, self.restored, self.finished = log, error, restored, time.time()

    def run(self, work: Any) -> None:
        self._thread = threading.Thread(target=work, name="lookalike-moves", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


class Review:
    """The review side of a served index: groups with decisions applied, the decisions themselves, views of
    a pair, and moves into ``move_to`` (``None``: the page cannot move). ``read_only`` refuses every change
    (:meth:`writable`)."""

    def __init__(
        self, collection: Collection, *, move_to: Path | None = None, read_only: bool = False
    ) -> None:
        self.collection = collection
        self.decisions = collection.decisions
        self.move_to = None if move_to is None else check_move_folder(move_to, collection.root)
        self.read_only = read_only
        self.moves = MoveJob()
        self._regrouped: dict[tuple[str, int, str], tuple[list[Member], list[Member]]] = {}
        self._views: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._root_real = os.path.realpath(collection.root)

    # -- rules --------------------------------------------------------------------------------------------

    def writable(self) -> None:
        """Raise :class:`ServeError` 403 when the server was started read-only."""
        if self.read_only:
            raise ServeError(
                403, "this server is read-only: it changes nothing", "start it without --read-only"
            )

    # -- groups -------------------------------------------------------------------------------------------

    def _result(self) -> tuple[str, DedupResult, dict[str, int]] | None:
        s = self.collection.duplicates.status()
        if s["result"] is None:
            return None
        return s["version"], s["result"], s["ids"]

    def groups(self) -> list[ReviewGroup]:
        """The unresolved groups of the current result, decisions applied (none before it is computed)."""
        found = self._result()
        if found is None:
            return []
        version, result, ids = found
        ignored, keepers = self.decisions.ignored_pairs(), self.decisions.keepers()
        by_id = self.collection.snapshot().by_id
        out = []
        for gid, group in enumerate(result.groups):
            g = self._effective(version, gid, group, ids, by_id, ignored, keepers)
            if g is not None:
                out.append(g)
        return out

    def group(self, gid: int, version: str | None = None) -> ReviewGroup:
        """One group by its ``gid``; :class:`ServeError` 404 if it is unknown or resolved, 409 when
        ``version`` is not the version the groups were computed on (the page shows stale groups)."""
        current, group, ids = self._found(gid, version)
        g = self._effective(
            current,
            gid,
            group,
            ids,
            self.collection.snapshot().by_id,
            self.decisions.ignored_pairs(),
            self.decisions.keepers(),
        )
        if g is None:
            raise ServeError(404, f"group {gid} is resolved: no duplicate of its keeper is left", None)
        return g

    def _found(self, gid: int, version: str | None) -> tuple[str, DuplicateGroup, dict[str, int]]:
        """``(version, group, ids)`` of group ``gid`` of the current result; :class:`ServeError` 409 before
        the groups are computed or when ``version`` is not theirs, 404 for an unknown ``gid``."""
        found = self._result()
        if found is None:
            raise ServeError(409, "the duplicates are not computed yet", "POST /api/duplicates starts it")
        current, result, ids = found
        if version is not None and version != current:
            raise ServeError(409, "the groups changed since the page loaded them", "reload the duplicates")
        if not 0 <= gid < len(result.groups):
            raise ServeError(404, f"no duplicate group {gid}", "list them with GET /api/duplicates")
        return current, result.groups[gid], ids

    def _member(self, m: Member, ids: dict[str, int], by_id: dict[int, Entry] | None = None) -> ReviewMember:
        image_id = ids.get(str(m.path))
        rows = by_id if by_id is not None else self.collection.snapshot().by_id
        entry = rows.get(image_id) if image_id is not None else None
        return ReviewMember(image_id, entry, entry.sha256 if entry is not None else None, m)

    def _effective(
        self,
        version: str,
        gid: int,
        group: DuplicateGroup,
        ids: dict[str, int],
        by_id: dict[int, Entry],
        ignored: set[tuple[str, str]],
        keepers: dict[str, float],
    ) -> ReviewGroup | None:
        members = [self._member(m, ids, by_id) for m in group.members]
        present = [m for m in members if os.path.lexists(m.member.path)]
        chosen = max(
            (m for m in present if m.sha256 is not None and m.sha256 in keepers),
            key=lambda m: keepers[m.sha256 or ""],
            default=None,
        )
        stays: list[ReviewMember] = []
        kept_because = group.kept_because
        if chosen is not None and chosen.member.path != group.keeper:
            regrouped, left = self._regroup(version, gid, members, chosen)
            members = [self._member(m, ids, by_id) for m in regrouped]
            stays = [self._member(m, ids, by_id) for m in left if os.path.lexists(m.path)]
            present = [m for m in members if os.path.lexists(m.member.path)]
            kept_because = "chosen as the keeper in a review"
        if not present or present[0].member.path != members[0].member.path:
            return None  # the keeper is gone: nothing left to decide here
        keeper = present[0]
        duplicates: list[ReviewMember] = []
        apart: list[ReviewMember] = []
        for m in present[1:]:
            distinct = (
                keeper.sha256 is not None
                and m.sha256 is not None
                and pair_key(keeper.sha256, m.sha256) in ignored
            )
            (apart if distinct else duplicates).append(m)
        if not duplicates:
            return None
        return ReviewGroup(gid, keeper, duplicates, apart, stays, kept_because, chosen is not None)

    def _regroup(
        self, version: str, gid: int, group: list[ReviewMember], chosen: ReviewMember
    ) -> tuple[list[Member], list[Member]]:
        """The group's files with ``chosen`` first and every other file checked against it: ``(members,
        files that are no duplicate of it)``, worked out once per keeper. Same bytes (by the index's
        content hashes) is an exact copy without a check."""
        from dataclasses import replace

        keeper = chosen.member
        key = (version, gid, str(keeper.path))
        with self._lock:
            known = self._regrouped.get(key)
        if known is not None:
            return known
        settings = self._settings()
        new_keeper = replace(
            keeper,
            keeper=True,
            ncc=1.0,
            rmse=0.0,
            hints=(),
            ssim=1.0,
            colour=0.0,
            detail=1.0,
            box=None,
            keeper_box=None,
        )
        members: list[Member] = [new_keeper]
        left: list[Member] = []
        for other in group:
            m = other.member
            if m.path == keeper.path:
                continue
            if chosen.sha256 is not None and other.sha256 == chosen.sha256:
                members.append(replace(m, keeper=False, hints=("exact",), box=None, keeper_box=None))
                continue
            try:
                judged = rejudge(keeper.path, m.path, **settings)
            except ImageError:
                judged = None
            if judged is None:
                left.append(m)
            else:
                members.append(judged)
        with self._lock:
            self._regrouped[key] = (members, left)
        return members, left

    def _settings(self) -> dict[str, Any]:
        found = self._result()
        settings = found[1].settings if found is not None else {}
        out: dict[str, Any] = {k: settings[k] for k in ("flips", "rotations", "crops") if k in settings}
        name = settings.get("strictness")
        if name in ("strict", "normal", "loose"):
            out["strictness"] = name
        return out

    # -- decisions ----------------------------------------------------------------------------------------

    def _sha_of(self, image_id: int) -> tuple[str, str]:
        """``(content hash, path)`` of an indexed image (hashed now when the index has no hash)."""
        entry = self.collection.entry(image_id)
        if entry.sha256:
            return entry.sha256, entry.path
        try:
            return file_sha256(self.collection.file(entry)), entry.path
        except OSError as exc:
            raise ServeError(409, f"image {image_id} cannot be read now ({exc.strerror or exc})") from None

    def mark_distinct(self, a: int, b: int) -> Decision:
        """Remember that images ``a`` and ``b`` are not duplicates."""
        self.writable()
        if a == b:
            raise ServeError(422, "a and b are the same image", "pass two different images")
        (sa, pa), (sb, pb) = self._sha_of(a), self._sha_of(b)
        if sa == sb:
            raise ServeError(422, "the two files have the same bytes: exact copies are always duplicates")
        return self.decisions.ignore(sa, sb, a_path=pa, b_path=pb)

    def forget(self, a: str, b: str) -> bool:
        """Take back a "not duplicates" decision (by the two content hashes); when the groups were
        computed with it, they are computed again (the pair may group now)."""
        self.writable()
        forgotten = self.decisions.forget(a, b)
        job = self.collection.duplicates
        if forgotten and pair_key(a.lower(), b.lower()) in job.used[0]:
            job.redo()
        return forgotten

    def choose_keeper(self, gid: int, image_id: int, version: str | None = None) -> ReviewGroup | None:
        """Make image ``image_id`` the keeper of group ``gid`` (it must be one of its files): remembered by
        content hash; the other files are checked against it. Choosing the file the rule keeps takes the
        choices of the group back."""
        self.writable()
        _, group, ids = self._found(gid, version)
        members = [self._member(m, ids) for m in group.members]
        target = next((m for m in members if m.id == image_id), None)
        if target is None:
            raise ServeError(422, f"image {image_id} is not a file of group {gid}", "pick one of its files")
        job = self.collection.duplicates
        taken_back = False
        for m in members:
            if m.sha256 is not None and m is not target:
                taken_back |= self.decisions.unkeep(m.sha256) and m.sha256 in job.used[1]
        if target.member.path != group.keeper:
            sha = target.sha256 or self._sha_of(image_id)[0]
            self.decisions.keep(sha, path=target.entry.path if target.entry else None)
        elif target.sha256 is not None:
            self.decisions.unkeep(target.sha256)
        if taken_back:  # the groups were computed around the keeper taken back
            job.redo()
            return None
        try:
            return self.group(gid)
        except ServeError:
            return None

    # -- views --------------------------------------------------------------------------------------------

    def view(self, gid: int, image_id: int, which: View) -> tuple[bytes, str]:
        """``(picture, media type)`` of a group's member against its keeper, aligned in the keeper's frame:
        the keeper's region (JPEG), the member's (JPEG) or the difference map (PNG)."""
        g = self.group(gid)
        m = next((m for m in g.duplicates + g.apart if m.id == image_id), None)
        if m is None or m.entry is None or g.keeper.entry is None:
            raise ServeError(404, f"image {image_id} is no duplicate of group {gid}'s keeper", None)
        key = (g.keeper.member.path, g.keeper.sha256, m.member.path, m.sha256, which)
        with self._lock:
            cached = self._views.get(key)
            if cached is not None:
                self._views.move_to_end(key)
        media = "image/png" if which == "difference" else "image/jpeg"
        if cached is not None:
            return cached, media
        draft = (2 * REVIEW_SIDE, 2 * REVIEW_SIDE)
        keeper_img = self.collection.load(g.keeper.entry, draft=draft)
        member_img = self.collection.load(m.entry, draft=draft)
        k, a = aligned_pair(keeper_img, member_img, m.member)
        buf = io.BytesIO()
        if which == "keeper":
            k.save(buf, "JPEG", quality=90)
        elif which == "member":
            a.save(buf, "JPEG", quality=90)
        else:
            difference_image(k, a).save(buf, "PNG", optimize=True)
        data = buf.getvalue()
        with self._lock:
            self._views[key] = data
            while len(self._views) > _VIEW_CACHE:
                self._views.popitem(last=False)
        return data, media

    # -- moves --------------------------------------------------------------------------------------------

    def _dest(self) -> Path:
        self.writable()
        if self.move_to is None:
            raise ServeError(
                409,
                "this server was started without a folder to move duplicates to",
                "start it with: lookalike serve FOLDER --move-to DIR",
            )
        return self.move_to

    def plan(self, gids: list[int] | None, version: str | None = None) -> list[Move]:
        """The moves that resolve groups ``gids`` (all when ``None``): each group's duplicates into the
        move folder at their path in the indexed folder (``name-1.jpg``… when taken)."""
        dest = self._dest()
        if version is not None:
            found = self._result()
            if found is None or found[0] != version:
                raise ServeError(
                    409, "the groups changed since the page loaded them", "reload the duplicates"
                )
        groups = self.groups()
        if gids is not None:
            wanted = set(gids)
            known = {g.gid for g in groups}
            unknown = sorted(wanted - known)
            if unknown:
                raise ServeError(404, f"no unresolved duplicate group {unknown[0]}", "reload the duplicates")
            groups = [g for g in groups if g.gid in wanted]
        dest_real = os.path.realpath(dest)
        taken: set[Path] = set()
        moves: list[Move] = []
        for g in groups:
            for m in g.duplicates:
                if m.entry is None:
                    continue
                self.collection.file(m.entry)  # inside the indexed folder, or refused (403/404)
                rel = Path(m.entry.path)
                if rel.is_absolute() or ".." in rel.parts:
                    raise ServeError(
                        403, f"image {m.id}: its indexed path {m.entry.path!r} is not inside the folder"
                    )
                target = free_name(dest / rel, taken)
                if not _inside(target, dest_real):
                    raise ServeError(
                        403,
                        f"moving {m.entry.path} would leave {dest} (a symbolic link inside it)",
                        "remove the link from the move folder",
                    )
                taken.add(target)
                moves.append(Move(self.collection.root.absolute() / rel, target))
        return moves

    def start_moves(self, gids: list[int] | None, version: str | None = None) -> dict[str, Any]:
        """Begin moving the duplicates of groups ``gids`` in the background; the job's status."""
        moves = self.plan(gids, version)
        if not moves:
            raise ServeError(422, "nothing to move: no duplicate is left in those groups", None)
        dest = self._dest()
        self.moves.begin("move", len(moves))

        def work() -> None:
            try:
                log = run_moves(moves, dest, progress=self.moves.progress)
            except (LookalikeError, OSError) as exc:
                self.moves.finish(error=str(exc))
            else:
                self.moves.finish(log=log.name)

        self.moves.run(work)
        return self.moves.status()

    def logs(self) -> list[dict[str, Any]]:
        """The move logs in the move folder (of the page's moves and of ``lookalike dedup --move-to``
        into it), newest first."""
        import json

        if self.move_to is None or not self.move_to.is_dir():
            return []
        out = []
        for p in sorted(
            self.move_to.glob("lookalike-dedup-*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True
        ):
            try:
                with p.open(encoding="utf-8") as f:
                    header = json.loads(f.readline() or "{}")
            except (OSError, ValueError):
                continue
            out.append({"name": p.name, "created": header.get("created"), "files": header.get("files")})
        return out

    def start_undo(self, name: str) -> dict[str, Any]:
        """Begin putting back the files of move log ``name`` (a file of the move folder), after checking
        that every file it names lies inside the indexed folder or the move folder."""
        dest = self._dest()
        if not _LOG_NAME.match(name) or not (dest / name).is_file():
            raise ServeError(
                404, f"no move log {name[:100]!r} in the move folder", "list them with GET /api/moves"
            )
        log = dest / name
        moves = read_move_log(log)
        dest_real = os.path.realpath(dest)
        for m in moves:
            if not _inside(m.source, self._root_real) or not _inside(m.target, dest_real):
                raise ServeError(
                    403,
                    f"{name} names a file outside the indexed folder or the move folder ({m.source})",
                    "undo it on the command line: lookalike dedup --undo LOG",
                )
        self.moves.begin("undo", len(moves))

        def work() -> None:
            try:
                report = undo_moves(log)
            except (LookalikeError, OSError) as exc:
                self.moves.finish(error=str(exc))
            else:
                self.moves.progress(len(moves), len(moves))
                self.moves.finish(log=name, restored=len(report.restored))

        self.moves.run(work)
        return self.moves.status()
