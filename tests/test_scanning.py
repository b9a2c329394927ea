"""Tests for lookalike.scanning: the image files under a folder (order, hidden entries, symbolic links,
unreadable folders), what a scan passes over, and exclude patterns."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike import formats
from lookalike.errors import ImageError, LookalikeError
from lookalike.images import image_size, load_image
from lookalike.scanning import Skipped, list_images, scan_images, skipped_lines

GREEN = (0, 255, 0)


# ----------------------------------------------------------------------------------------------------------
# list_images


def _touch_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # list_images goes by name; content is not read
    return path


def test_list_images_nested_case_hidden_and_order(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for rel in [
        "b.jpg",
        "a.PNG",
        "sub/c.JpEg",
        "sub/deeper/d.webp",
        "z dir/é 1.tif",
        "日本/写真.gif",
        ".hidden.jpg",
        ".lookalike/thumb.jpg",
        "sub/.cache/e.png",
        "notes.txt",
        "noext",
    ]:
        _touch_image(root / rel)
    expected = [
        root / r
        for r in ["a.PNG", "b.jpg", "sub/c.JpEg", "sub/deeper/d.webp", "z dir/é 1.tif", "日本/写真.gif"]
    ]
    assert list_images(root) == expected
    assert list_images(str(root)) == expected
    assert list_images(root, recursive=False) == [root / "a.PNG", root / "b.jpg"]


def test_list_images_follows_symlinks_without_looping(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _touch_image(root / "a.jpg")
    _touch_image(root / "sub/b.jpg")
    outside = _touch_image(tmp_path / "elsewhere/c.png").parent
    (root / "sub/loop").symlink_to(root, target_is_directory=True)
    (root / "sub/self").symlink_to(root / "sub", target_is_directory=True)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    result: list[list[Path]] = []
    worker = threading.Thread(target=lambda: result.append(list_images(root)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert result, "list_images did not finish: it follows a symlink loop"
    found = result[0]
    assert found == [root / "a.jpg", root / "linked/c.png", root / "sub/b.jpg"]


def test_list_images_lists_broken_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _touch_image(root / "a.jpg")
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (root / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    assert list_images(root) == [root / "a.jpg", root / "gone.jpg"]
    with pytest.raises(ImageError, match="broken symbolic link"):
        load_image(root / "gone.jpg")


def test_list_images_single_file_and_missing_root(tmp_path: Path) -> None:
    one = _touch_image(tmp_path / "one.jpg")
    assert list_images(one) == [one]
    with pytest.raises(ImageError, match="no such file or folder") as info:
        list_images(tmp_path / "nope")
    assert "nope" in str(info.value)


def test_list_then_load_real_images(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    for i, ext in enumerate(["jpg", "png", "webp", "bmp", "tif", "gif"]):
        Image.new("RGB", (5 + i, 4), GREEN).save(root / f"{i}.{ext}")
    found = list_images(root)
    assert [p.name for p in found] == ["0.jpg", "1.png", "2.webp", "3.bmp", "4.tif", "5.gif"]
    assert [load_image(p).size for p in found] == [(5 + i, 4) for i in range(6)]
    assert [image_size(p) for p in found] == [(5 + i, 4) for i in range(6)]


def test_list_images_can_skip_unreadable_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    _touch_image(root / "a.jpg")
    _touch_image(root / "locked/b.jpg")
    _touch_image(root / "open/c.jpg")
    real_scandir = os.scandir

    def refuse(path: Any = ".") -> Any:
        if Path(path).name in ("locked", "root-locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(ImageError, match="locked: cannot list the folder"):
        list_images(root)  # the default is unchanged: one bad folder stops the listing
    skipped: list[tuple[Path, str]] = []
    found = list_images(root, on_error=lambda folder, error: skipped.append((folder, str(error))))
    assert found == [root / "a.jpg", root / "open/c.jpg"]
    assert [f for f, _ in skipped] == [root / "locked"]
    assert "cannot list the folder (Permission denied); fix its permissions" in skipped[0][1]
    top = tmp_path / "root-locked"
    top.mkdir()
    with pytest.raises(ImageError, match="cannot list the folder"):
        list_images(top, on_error=lambda folder, error: None)  # the root itself still raises


def test_scan_images_counts_what_it_passes_over_by_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a.jpg", "trip/b.PNG", "trip/c.heic", "trip/d.HEIC", "notes.txt", "trip/clip.mov", "README"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".hidden.txt").write_bytes(b"x")  # hidden: neither listed nor counted
    monkeypatch.setattr(formats, "_reader_ready", lambda name: name != "HEIC")
    scan = scan_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in scan.paths] == ["a.jpg", "trip/b.PNG"]
    assert scan.skipped.no_reader == {".heic": 2}
    assert scan.skipped.unknown == {".txt": 1, ".mov": 1, "": 1} and scan.skipped.total == 5
    assert scan.skipped.lines() == [
        "2 .heic files skipped: HEIC files need pillow-heif: pip install 'lookalike[heif]'",
        "3 files of unknown type skipped (.mov 1, .txt 1, (no extension) 1)",
    ]
    assert scan.skipped.to_dict() == {
        "total": 5,
        "no_reader": {".heic": {"count": 2, "fix": "pip install 'lookalike[heif]'"}},
        "unknown": {"": 1, ".mov": 1, ".txt": 1},
        "excluded": 0,
        "excluded_folders": 0,
    }
    assert list_images(tmp_path) == scan.paths
    monkeypatch.setattr(formats, "_reader_ready", lambda name: True)
    assert len(scan_images(tmp_path).paths) == 4  # with the reader the HEIC files are listed


def test_formats_pillow_reads_are_listed_and_read(tmp_path: Path) -> None:
    picture = Image.fromarray(np.random.default_rng(3).integers(0, 256, (16, 24, 3), dtype=np.uint8))
    for ext, options in ((".tga", {}), (".qoi", {}), (".jp2", {}), (".ico", {"sizes": [(24, 16)]})):
        picture.save(tmp_path / f"p{ext}", **options)
    scan = scan_images(tmp_path)
    assert (
        sorted(p.suffix for p in scan.paths) == [".ico", ".jp2", ".qoi", ".tga"] and scan.skipped.total == 0
    )
    for path in scan.paths:
        img = load_image(path)
        assert img.mode == "RGB" and img.size == (24, 16), path
    assert np.array_equal(np.asarray(load_image(tmp_path / "p.qoi")), np.asarray(picture))  # lossless


# ----------------------------------------------------------------------------------------------------------
# exclude patterns


def _relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_exclude_names_match_at_any_depth_and_paths_from_the_root(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for rel in [
        "a.jpg",
        "a.tmp",  # a name pattern, at the top …
        "trip/b.tmp",  # … and deeper
        "trip/deep/c.tmp",
        "IMG_1.PNG",  # case-sensitive: IMG_*.PNG takes this one …
        "img_2.png",  # … not this one
        "drafts/d.jpg",  # a folder name at the top …
        "trip/drafts/e.jpg",  # … and deeper
        "trip/drafts.jpg",  # a file named like the folder pattern's glob would not be (no glob match)
        "raw/f.jpg",  # raw/** from the root …
        "raw/deeper/g.jpg",
        "trip/raw/h.jpg",  # … not a raw folder lower down
        "2023/jan/thumbs/i.jpg",  # 2023/*/thumbs: one name between …
        "2023/jan/feb/thumbs/j.jpg",  # … not two
        "2024/jan/thumbs/k.jpg",
        "notes.txt",  # excluded, not counted as of unknown type
    ]:
        _touch_image(root / rel)
    scan = scan_images(
        root, exclude=["*.tmp", "IMG_*.PNG", "drafts", "raw/**", "2023/*/thumbs", "*.txt", "/top-only.jpg"]
    )
    assert _relative(scan.paths, root) == [
        "2023/jan/feb/thumbs/j.jpg",
        "2024/jan/thumbs/k.jpg",
        "a.jpg",
        "img_2.png",
        "trip/drafts.jpg",
        "trip/raw/h.jpg",
    ]
    # files: a.tmp, b.tmp, c.tmp, IMG_1.PNG, notes.txt; folders: drafts ×2, raw, 2023/jan/thumbs
    assert (scan.skipped.excluded, scan.skipped.excluded_folders) == (5, 4)
    assert scan.skipped.unknown == {} and scan.skipped.total == 5
    assert scan.skipped.lines() == ["5 files and 4 folders excluded by pattern"]
    assert scan.skipped.to_dict()["excluded"] == 5 and scan.skipped.to_dict()["excluded_folders"] == 4
    assert skipped_lines(scan.skipped.to_dict()) == scan.skipped.lines()  # an index's last run
    assert list_images(root, exclude=["*.tmp", "IMG_*.PNG", "drafts", "raw/**", "2023/*/thumbs"]) == [
        root / p for p in _relative(scan.paths, root)
    ]


def test_exclude_path_patterns_anchor_and_trailing_slash_means_folders_only(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for rel in ["top.jpg", "sub/top.jpg", "cache.jpg", "cache/a.jpg", "sub/cache/b.jpg", "x/y/z.png"]:
        _touch_image(root / rel)
    anchored = _relative(scan_images(root, exclude=["/top.jpg"]).paths, root)  # the root's own alone
    assert anchored == ["cache/a.jpg", "cache.jpg", "sub/cache/b.jpg", "sub/top.jpg", "x/y/z.png"]
    only_folders = scan_images(root, exclude=["cache/"])  # the folders named cache, not cache.jpg
    assert _relative(only_folders.paths, root) == ["cache.jpg", "sub/top.jpg", "top.jpg", "x/y/z.png"]
    assert only_folders.skipped.excluded_folders == 2 and only_folders.skipped.excluded == 0
    anywhere = scan_images(root, exclude=["**/y/*.png", "sub/*"])
    assert _relative(anywhere.paths, root) == ["cache/a.jpg", "cache.jpg", "top.jpg"]
    assert anywhere.skipped.lines() == ["2 files and 1 folder excluded by pattern"]


def test_an_excluded_folder_is_never_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    _touch_image(root / "a.jpg")
    _touch_image(root / "huge/b.jpg")
    _touch_image(root / "locked/c.jpg")
    _touch_image(root / "keep/locked/d.jpg")  # not the root's own locked/: listed
    real_scandir = os.scandir
    listed: list[str] = []

    def watch(path: Any = ".") -> Any:
        rel = Path(path).relative_to(root).as_posix()
        listed.append(rel)
        if rel == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", watch)
    scan = scan_images(root, exclude=["huge", "/locked"])  # no on_error: an unreadable folder would raise
    assert _relative(scan.paths, root) == ["a.jpg", "keep/locked/d.jpg"]
    assert sorted(listed) == [".", "keep", "keep/locked"]
    assert (scan.skipped.excluded_folders, scan.skipped.excluded, scan.skipped.total) == (2, 0, 0)
    assert scan.skipped.lines() == ["2 folders excluded by pattern"]


def test_skipped_adds_the_excluded_counts() -> None:
    total = Skipped(unknown={".txt": 1}, excluded=2, excluded_folders=1)
    total.add(Skipped(excluded=3))
    assert (total.excluded, total.excluded_folders, total.total) == (5, 1, 6)
    assert total.lines() == [
        "1 file of unknown type skipped (.txt 1)",
        "5 files and 1 folder excluded by pattern",
    ]
    assert skipped_lines({"total": 1, "no_reader": {}, "unknown": {".txt": 1}}) == [
        "1 file of unknown type skipped (.txt 1)"  # an index's last run from before exclude patterns
    ]


@pytest.mark.parametrize("pattern", ["", "/", " ", "//"])
def test_an_empty_exclude_pattern_is_one_clear_error(tmp_path: Path, pattern: str) -> None:
    _touch_image(tmp_path / "a.jpg")
    with pytest.raises(LookalikeError) as info:
        scan_images(tmp_path, exclude=["*.tmp", pattern])
    assert str(info.value) == (
        f"exclude pattern {pattern!r} is empty; give each `exclude` pattern a glob such as *.tmp, drafts "
        "or raw/**"
    )
    with pytest.raises(TypeError, match="not one string"):
        scan_images(tmp_path, exclude="*.tmp")
