"""Finding the images in a folder: the image files under it, sorted, and a count of the files passed over.

* :func:`scan_images` — the image files under a folder, sorted, hidden entries skipped, symlinks followed
  without looping, files and folders matching ``exclude`` glob patterns left out (excluded folders are not
  even entered), and a count of the files passed over by kind (no reader installed, unknown type,
  excluded): :class:`ImageScan`, :class:`Skipped`; :func:`list_images` — its paths alone.
* :func:`check_exclude` — ``exclude`` patterns checked before a run; :func:`skipped_lines` — the count of a
  past run, read back, as lines.

Reading one of the files is :mod:`lookalike.images`' (:func:`~lookalike.images.load_image`). A root that
does not exist or a folder that cannot be listed raises :class:`~lookalike.errors.ImageError` with one line
that names it, says what is wrong and what to do.

>>> from lookalike.scanning import list_images
>>> list_images("photos", exclude=["*.tmp"])  # doctest: +SKIP
[PosixPath('photos/a.jpg'), PosixPath('photos/trip/b.PNG')]
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from lookalike.errors import ImageError, LookalikeError
from lookalike.formats import IMAGE_EXTENSIONS, format_of, missing_reader

__all__ = ["ImageScan", "Skipped", "check_exclude", "list_images", "scan_images", "skipped_lines"]


@dataclass
class Skipped:
    """The files a folder scan passed over, counted by extension.

    ``no_reader``: files of a format lookalike reads once its optional reader is installed (``.heic``
    without pillow-heif); ``unknown``: files of no image format lookalike knows (``.txt``, ``.mov``,
    ``""`` for names without an extension); ``excluded``: files that matched an ``exclude`` pattern of
    :func:`scan_images`, and ``excluded_folders``: folders that matched one (never entered, so the files
    inside them are not counted). Hidden files are not counted.
    """

    no_reader: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    excluded: int = 0
    excluded_folders: int = 0

    @property
    def total(self) -> int:
        """Files passed over, of every kind (excluded folders are not files: not counted)."""
        return sum(self.no_reader.values()) + sum(self.unknown.values()) + self.excluded

    def add(self, other: Skipped) -> None:
        """Count ``other``'s files too (several folders scanned for one run)."""
        for mine, theirs in ((self.no_reader, other.no_reader), (self.unknown, other.unknown)):
            for ext, n in theirs.items():
                mine[ext] = mine.get(ext, 0) + n
        self.excluded += other.excluded
        self.excluded_folders += other.excluded_folders

    def lines(self) -> list[str]:
        """One line per reason: ``12 .heic files skipped: HEIC files need pillow-heif: pip install
        'lookalike[heif]'``, ``3 files of unknown type skipped (.txt 2, .mov 1)``, ``14 files and 2 folders
        excluded by pattern``."""
        out = []
        for ext, n in sorted(self.no_reader.items(), key=lambda kv: (-kv[1], kv[0])):
            fmt = format_of(f"x{ext}")
            hint = missing_reader(fmt) if fmt is not None else None
            out.append(f"{_files(n, ext)} skipped: {hint}")
        if self.unknown:
            n = sum(self.unknown.values())
            kinds = sorted(self.unknown.items(), key=lambda kv: (-kv[1], not kv[0], kv[0]))
            shown = ", ".join(f"{ext or '(no extension)'} {k}" for ext, k in kinds[:5])
            more = f", {len(kinds) - 5} more kinds" if len(kinds) > 5 else ""
            out.append(f"{_files(n, '')} of unknown type skipped ({shown}{more})")
        if self.excluded or self.excluded_folders:
            what = [_files(self.excluded, "")] if self.excluded else []
            if self.excluded_folders:
                n = self.excluded_folders
                what.append(f"{n:,} folder{'' if n == 1 else 's'}")
            out.append(f"{' and '.join(what)} excluded by pattern")
        return out

    def to_dict(self) -> dict[str, object]:
        """``{"total", "no_reader": {".heic": {"count", "fix"}}, "unknown": {".txt": 2}, "excluded": 14,
        "excluded_folders": 2}`` for ``--json``."""
        readers = {}
        for ext, n in sorted(self.no_reader.items()):
            fmt = format_of(f"x{ext}")
            readers[ext] = {"count": n, "fix": fmt.install if fmt is not None else ""}
        return {
            "total": self.total,
            "no_reader": readers,
            "unknown": dict(sorted(self.unknown.items())),
            "excluded": self.excluded,
            "excluded_folders": self.excluded_folders,
        }


def skipped_lines(counts: dict[str, Any] | None) -> list[str]:
    """:meth:`Skipped.lines` of a :meth:`Skipped.to_dict` read back (an index's last run), ``[]`` for
    ``None``."""
    if not counts:
        return []
    return Skipped(
        {ext: int(v["count"]) for ext, v in (counts.get("no_reader") or {}).items()},
        {ext: int(n) for ext, n in (counts.get("unknown") or {}).items()},
        excluded=int(counts.get("excluded") or 0),
        excluded_folders=int(counts.get("excluded_folders") or 0),
    ).lines()


def _files(n: int, ext: str) -> str:
    return f"{n:,} {ext + ' ' if ext else ''}file{'' if n == 1 else 's'}"


@dataclass
class ImageScan:
    """What :func:`scan_images` found: the image files to read, and what it passed over."""

    paths: list[Path]
    skipped: Skipped


def list_images(
    root: str | os.PathLike[str],
    *,
    recursive: bool = True,
    on_error: Callable[[Path, ImageError], None] | None = None,
    exclude: Sequence[str] = (),
) -> list[Path]:
    """Every image file under ``root`` that lookalike can read here, sorted: :func:`scan_images`'s paths.

    >>> list_images("photos", exclude=["*.tmp", "raw/**"])  # doctest: +SKIP
    [PosixPath('photos/a.jpg'), PosixPath('photos/trip/b.PNG')]
    """
    return scan_images(root, recursive=recursive, on_error=on_error, exclude=exclude).paths


def scan_images(
    root: str | os.PathLike[str],
    *,
    recursive: bool = True,
    on_error: Callable[[Path, ImageError], None] | None = None,
    exclude: Sequence[str] = (),
) -> ImageScan:
    """Every image file under ``root`` (by extension, any case) whose reader is installed, sorted by path
    components, and a count of the other files by kind (:class:`Skipped`) — none passed over in silence.

    Hidden files and folders (names starting with ``.``, such as the ``.lookalike`` index folder) are
    skipped. Symbolic links to folders are followed, but each real folder is visited once, so link loops
    end. Symbolic links with an image extension are listed even when broken, so that callers report them
    as failures instead of losing them silently. A ``root`` that is a file is returned alone, whatever its
    extension (and whatever ``exclude`` says). Paths are ``root`` joined with the names found (not
    resolved).

    ``exclude`` leaves files and folders out by glob pattern (``*``, ``?``, ``[abc]`` as in :mod:`fnmatch`;
    case-sensitive, as in ``.gitignore``), matched against the path relative to ``root`` with ``/``
    between names:

    * a pattern without ``/`` matches a file or folder *name* at any depth: ``*.tmp``, ``drafts``,
      ``IMG_*.PNG``;
    * a pattern with ``/`` matches the *path* from ``root``, each ``*`` within one name and ``**`` any
      number of folders: ``raw/**``, ``2023/*/thumbs``, ``**/cache/*.jpg`` (a leading ``/`` changes
      nothing: ``/raw`` is ``raw`` at the top only);
    * a trailing ``/`` matches folders only: ``drafts/``.

    A folder that matches is not entered at all, so excluding a huge or unreadable folder costs nothing.
    Excluded files (of any type) are counted in ``skipped.excluded``, excluded folders in
    ``skipped.excluded_folders``. An empty pattern raises :class:`~lookalike.errors.LookalikeError`.

    Raises :class:`ImageError` if ``root`` does not exist or a folder under it cannot be listed. With
    ``on_error``, a folder under ``root`` that cannot be listed is passed to it with its error and skipped
    instead (``root`` itself still raises), so that one unreadable folder does not stop a whole run.

    >>> scan = scan_images("phone", exclude=["*.tmp", "raw/**"])  # doctest: +SKIP
    >>> len(scan.paths), scan.skipped.lines()
    (210, ["12 .heic files skipped: HEIC files need pillow-heif: pip install 'lookalike[heif]'",
           '14 files and 1 folder excluded by pattern'])
    """
    excluded = _Exclusion(exclude) if exclude else None
    top = Path(root)
    top_stat = _stat(top, missing="no such file or folder")
    skipped = Skipped()
    if not stat.S_ISDIR(top_stat.st_mode):
        return ImageScan([top], skipped)
    found: list[Path] = []
    visited = {(top_stat.st_dev, top_stat.st_ino)}
    pending: list[tuple[Path, str]] = [(top, "")]  # each folder and its path from top ("a/b/", "" for top)
    readable: dict[str, bool] = {}
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            error = ImageError(
                f"{folder}: cannot list the folder ({exc.strerror or exc}); fix its "
                f"permissions or move it out of {top}"
            )
            if on_error is None or folder == top:
                raise error from None
            on_error(folder, error)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if _is_dir(entry):
                if recursive:
                    if excluded is not None and excluded.matches(prefix + entry.name, folder=True):
                        skipped.excluded_folders += 1
                        continue
                    try:
                        s = entry.stat()
                    except OSError:
                        continue
                    if (s.st_dev, s.st_ino) not in visited:
                        visited.add((s.st_dev, s.st_ino))
                        pending.append((folder / entry.name, f"{prefix}{entry.name}/"))
                continue
            is_file = entry.is_file()
            if not (is_file or (entry.is_symlink() and not Path(entry.path).exists())):
                continue
            if excluded is not None and excluded.matches(prefix + entry.name, folder=False):
                skipped.excluded += 1
                continue
            ext = Path(entry.name).suffix.lower()
            if ext not in IMAGE_EXTENSIONS:
                if is_file:
                    skipped.unknown[ext] = skipped.unknown.get(ext, 0) + 1
                continue
            if ext not in readable:
                fmt = format_of(entry.name)
                readable[ext] = fmt is None or missing_reader(fmt) is None
            if readable[ext]:
                found.append(folder / entry.name)
            else:
                skipped.no_reader[ext] = skipped.no_reader.get(ext, 0) + 1
    return ImageScan(sorted(found, key=lambda p: p.parts), skipped)


def check_exclude(patterns: Iterable[str]) -> tuple[str, ...]:
    """``patterns`` (:func:`scan_images`'s ``exclude``) as a tuple, each checked: an empty one (or one of
    only ``/`` and spaces) raises :class:`~lookalike.errors.LookalikeError`. A lone string is refused too,
    as it would be read one character at a time.

    >>> check_exclude(["*.tmp", "raw/**"])
    ('*.tmp', 'raw/**')
    """
    if isinstance(patterns, (str, bytes)):
        raise TypeError(f"exclude takes a list of patterns, not one string: pass [{patterns!r}]")
    out = tuple(patterns)
    for pattern in out:
        if not pattern.strip(" /"):
            raise LookalikeError(
                f"exclude pattern {pattern!r} is empty",
                hint="give each `exclude` pattern a glob such as *.tmp, drafts or raw/**",
            )
    return out


class _Exclusion:
    """:func:`scan_images`'s ``exclude`` patterns, ready to match paths relative to the root."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.names: list[tuple[str, bool]] = []  # (glob, folders only): a name at any depth
        self.paths: list[tuple[list[str], bool]] = []  # (globs of the names from the root, folders only)
        for pattern in check_exclude(patterns):
            folders_only = pattern.endswith("/")
            body = pattern.rstrip("/")
            parts = [part for part in body.split("/") if part]
            if "/" in body:
                self.paths.append((parts, folders_only))
            else:
                self.names.append((body, folders_only))

    def matches(self, rel: str, *, folder: bool) -> bool:
        """Whether ``rel`` (``/``-separated, from the root) is excluded; ``folder`` says it is a folder."""
        name = rel.rpartition("/")[2]
        if any(fnmatchcase(name, glob) for glob, only in self.names if folder or not only):
            return True
        if not self.paths:
            return False
        parts = rel.split("/")
        return any(_parts_match(parts, globs) for globs, only in self.paths if folder or not only)


def _parts_match(parts: Sequence[str], globs: Sequence[str]) -> bool:
    """Whether the names ``parts`` match the globs ``globs`` one to one, ``**`` standing for any number of
    names (none included)."""
    if not globs:
        return not parts
    if globs[0] == "**":
        return any(_parts_match(parts[i:], globs[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], globs[0]) and _parts_match(parts[1:], globs[1:])


# ----------------------------------------------------------------------------------------------------------
# Helpers


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symbolic links
    except OSError:
        return False


def _stat(path: Path, *, missing: str) -> os.stat_result:
    """``os.stat`` (following links) with each failure as one clear :class:`ImageError`: of a scan's root
    here, of an image file in :mod:`lookalike.images`, which takes it from here (this module imports
    nothing of that one, which gives this one's names)."""
    try:
        return path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageError(
                f"{path}: broken symbolic link to {path.readlink()}; fix or remove the link"
            ) from None
        raise ImageError(f"{path}: {missing}; check the path") from None
    except PermissionError:
        raise ImageError(
            f"{path}: permission denied on a folder in its path; make the folders readable "
            "and searchable (chmod +rx)"
        ) from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc}); check the path") from None
