"""The keeper of a duplicate group (lookalike.dedup.keeper): the policies that rank a group — the original
should win against every kind of copy people make of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from keeper_support import (
    NEW,
    OLD,
    brighter,
    chart,
    drawn_smaller,
    facts,
    framed,
    keeper,
    page,
    photo,
    save,
    scanned,
)
from lookalike.dedup.keeper import KEEP_POLICIES, KeeperFacts, KeepPolicy, kept_because, parse_keep, rank
from lookalike.dedup.quality import FileQuality
from lookalike.errors import LookalikeError

# ----------------------------------------------------------------------------------------------------------
# the original wins against each kind of copy


def test_png_original_beats_its_jpeg_q30_copy_with_more_bytes(tmp_path: Path) -> None:
    original = facts(save(chart(), tmp_path / "chart.png"))
    copy = facts(save(chart(), tmp_path / "chart-copy.jpg", mtime=OLD, quality=30))
    assert copy.bytes > original.bytes and copy.quality.quality == 30
    assert keeper(original, copy) == original.path
    assert keeper(original, copy, policy="largest") == copy.path  # the old rule kept the copy
    assert kept_because([original, copy], rank([original, copy])) == "lossless PNG over lossy JPEG"


def test_original_beats_a_quarter_size_copy_saved_as_png(tmp_path: Path) -> None:
    img = photo()
    original = facts(save(img, tmp_path / "photo.jpg", mtime=NEW, quality=90))
    small = facts(save(img.resize((128, 128), Image.Resampling.LANCZOS), tmp_path / "small.png", mtime=OLD))
    members = [small, original]
    assert keeper(*members) == original.path
    assert kept_because(members, rank(members)) == "more pixels (512×512 against 128×128)"


def test_original_beats_a_crop_of_five_percent_each_side(tmp_path: Path) -> None:
    img = page()
    original = facts(save(img, tmp_path / "page.png"))
    w, h = img.size
    crop = facts(save(img.crop((31, 44, w - 31, h - 44)), tmp_path / "crop.png", mtime=OLD))
    assert keeper(crop, original) == original.path


def test_original_beats_its_scan_as_jpeg_and_as_png(tmp_path: Path) -> None:
    img = page()
    original = facts(save(img, tmp_path / "page.png"))
    as_jpeg = facts(save(scanned(img), tmp_path / "scan.jpg", mtime=OLD, quality=85))
    as_png = facts(save(scanned(img), tmp_path / "scan.png", mtime=OLD))  # older: only sharpness tells
    assert keeper(as_jpeg, original) == original.path
    assert keeper(as_png, original) == original.path
    assert kept_because([original, as_png], [0, 1]).startswith("sharper (")


def test_jpeg_photo_beats_its_webp_copy_and_its_brightened_png_copy(tmp_path: Path) -> None:
    """The brightened copy is a lossless file, but of pixels decoded from the JPEG original: its JPEG block
    grid shows, so it counts as a lossy file of unknown quality (75), below the original's 90. (Where the
    grid is gone — a copy turned by a small angle or resampled, or an original of quality ≥ 95, whose grid
    is too faint — the lossless copy wins: a documented limit.)"""
    original = facts(save(photo(), tmp_path / "photo.jpg", quality=90))
    with Image.open(original.path) as img:
        decoded = img.convert("RGB")
    webp = facts(save(decoded, tmp_path / "copy.webp", mtime=OLD, quality=80))
    bright = facts(save(brighter(decoded), tmp_path / "bright.png", mtime=OLD))
    assert bright.quality.from_jpeg
    members = [webp, bright, original]
    assert keeper(*members) == original.path
    assert keeper(webp, original) == original.path and keeper(bright, original) == original.path
    assert kept_because([original, bright], [0, 1]) == (
        "higher quality (JPEG ≈90 against PNG made from a JPEG, counted as ≈75)"
    )


def test_a_small_lossless_copy_of_a_jpeg_claims_nothing_and_the_older_original_wins(tmp_path: Path) -> None:
    """Under about 130×130 px the block grid cannot be told from the picture, so a lossless copy neither
    wins nor loses for being lossless: the later steps (here the file time) decide."""
    thumb = photo().resize((32, 32), Image.Resampling.LANCZOS)
    original = facts(save(thumb, tmp_path / "thumb.jpg", mtime=OLD, quality=90))
    with Image.open(original.path) as img:
        copy = facts(save(brighter(img.convert("RGB")), tmp_path / "bright.png"))
    assert copy.quality.lossless and copy.quality.from_jpeg is None and copy.quality.rated_quality is None
    assert keeper(copy, original) == original.path
    assert kept_because([original, copy], [0, 1]).startswith("older file")
    framed_copy, content = framed(thumb, 0.1)
    bordered = facts(save(framed_copy, tmp_path / "framed.png", mtime=OLD - 10), content)
    assert keeper(bordered, original) == original.path  # older, but with an added border


def test_bordered_copy_loses_to_the_original_at_equal_content(tmp_path: Path) -> None:
    img = page()
    original = facts(save(img, tmp_path / "page.png"))
    bordered, content = framed(img, 0.05)
    copy = facts(save(bordered, tmp_path / "framed.png", mtime=OLD), content)
    assert copy.content_pixels == pytest.approx(original.content_pixels)
    assert keeper(copy, original) == original.path
    assert kept_because([original, copy], [0, 1]) == "no added border"


def test_a_copy_drawn_slightly_smaller_into_a_frame_loses_even_when_lossless(tmp_path: Path) -> None:
    original = facts(save(photo(), tmp_path / "photo.jpg", quality=90))
    with Image.open(original.path) as img:
        small, content = drawn_smaller(img.convert("RGB"), 0.96)  # 92% of the pixels: resampled, no grid
    copy = facts(save(small, tmp_path / "frame.png", mtime=OLD), content)
    assert copy.quality.clean_lossless and copy.content_pixels > 0.9 * original.content_pixels
    assert keeper(copy, original) == original.path


def test_edits_of_a_png_original_leave_the_older_file(tmp_path: Path) -> None:
    img = page()
    original = facts(save(img, tmp_path / "z-page.png", mtime=OLD))
    edits = [
        facts(save(brighter(img), tmp_path / "a-bright.png")),
        facts(save(ImageEnhance.Contrast(img).enhance(0.85), tmp_path / "b-contrast.png")),
        facts(save(img.transpose(Image.Transpose.ROTATE_180), tmp_path / "c-turned.png")),
    ]
    members = [*edits, original]
    order = rank(members)
    assert members[order[0]].path == original.path
    assert kept_because(members, order).startswith("older file (modified 2017-07-14 02:40")


# ----------------------------------------------------------------------------------------------------------
# the ranking itself


def q(**kw: object) -> FileQuality:
    return FileQuality(**{"format": "JPEG", "lossless": False, "quality": 90, **kw})  # type: ignore[arg-type]


def member(name: str, **kw: object) -> KeeperFacts:
    base: dict[str, object] = {"width": 100, "height": 100, "bytes": 1000, "mtime": NEW, "quality": q()}
    return KeeperFacts(Path(name), **{**base, **kw})  # type: ignore[arg-type]


def test_rank_orders_every_member_and_breaks_ties_by_path() -> None:
    members = [
        member("c.jpg"),
        member("b.jpg"),
        member("small.jpg", width=50),
        member("a.jpg"),
        member("low.jpg", quality=q(quality=30)),
    ]
    order = rank(members)
    assert order == [3, 1, 0, 4, 2]  # a, b, c tie on everything; then the worse JPEG; the small one last
    assert rank(members) == order
    assert kept_because(members, order) == "first by path"
    assert kept_because([members[0]], [0]) == "the only file"


@pytest.mark.parametrize(
    ("winner", "loser", "phrase"),
    [
        (
            member("a.png", quality=q(format="PNG", lossless=True, quality=None)),
            member("b.jpg"),
            "lossless PNG over lossy JPEG",
        ),
        (
            member("a.jpg", width=1240, height=1754),
            member("b.jpg", width=310, height=438),
            "more pixels (1240×1754 against 310×438)",
        ),
        (member("a.jpg"), member("b.jpg", quality=q(quality=30)), "higher JPEG quality (≈90 against ≈30)"),
        (
            member("a.jpg", quality=q(quality=80)),
            member("b.webp", quality=q(format="WEBP", quality=None)),
            "higher quality (JPEG ≈80 against lossy WebP, counted as ≈75)",
        ),
        (member("a.jpg"), member("b.jpg", width=110, height=110, content=0.83), "no added border"),
        (
            member("b.jpg", quality=q(sharpness=1.4)),
            member("a.jpg", quality=q(sharpness=1.1)),
            "sharper (1.40 against 1.10)",
        ),
        (
            member("b.jpg", quality=q(capture_time=1556705520.0), mtime=NEW),
            member("a.jpg", quality=q(capture_time=1614880800.0), mtime=OLD),
            "older capture time (EXIF 2019-05-01 10:12 against 2021-03-04 18:00)",
        ),
        (
            member("b.jpg", quality=q(capture_time=1556705520.0), mtime=NEW),
            member("a.jpg", mtime=OLD),
            "has a capture time (EXIF 2019-05-01 10:12)",
        ),
        (
            member("b.jpg", mtime=OLD),
            member("a.jpg", mtime=NEW),
            "older file (modified 2017-07-14 02:40 against 2023-11-14 22:13 UTC)",
        ),
    ],
)
def test_quality_cascade_and_its_reasons(winner: KeeperFacts, loser: KeeperFacts, phrase: str) -> None:
    members = [loser, winner]
    order = rank(members)
    assert order == [1, 0]
    assert kept_because(members, order) == phrase


def test_a_page_with_its_margin_cut_is_not_the_border_free_original() -> None:
    # a page (white margin of its own) and a copy with 5% of each side cut off, in the margin only: the
    # same text pixels, the copy "border-free" relative to the page; pixels cannot say which is the
    # original (a white frame added to the copy would look the same), so the older file is kept
    page = member("page.png", width=1240, height=1754, content=0.81, margin=True, mtime=OLD)
    cut = member("page-cut.png", width=1116, height=1579, content=1.0, margin=True, mtime=NEW)
    order = rank([cut, page])
    assert order == [1, 0]
    assert kept_because([cut, page], order).startswith("older file")


def test_a_photo_without_a_margin_beats_its_framed_copy_whatever_the_age() -> None:
    photo = member("photo.jpg", width=800, height=600, content=1.0, margin=False, mtime=NEW)
    framed = member("framed.jpg", width=880, height=660, content=0.83, margin=True, mtime=OLD)
    assert rank([framed, photo]) == [1, 0]
    assert kept_because([framed, photo], [1, 0]) == "no added border"


def test_tolerances_let_later_steps_decide() -> None:
    near_pixels = [
        member("a.jpg", width=96, quality=q(format="PNG", lossless=True, quality=None)),
        member("b.jpg"),
    ]
    assert rank(near_pixels) == [0, 1]  # 96% of the pixels: lossless decides
    near_quality = [member("a.jpg", quality=q(quality=88), mtime=OLD), member("b.jpg", quality=q(quality=90))]
    assert rank(near_quality) == [0, 1]  # 2 below the best: the older file decides
    near_sharp = [
        member("a.jpg", quality=q(sharpness=0.95), mtime=OLD),
        member("b.jpg", quality=q(sharpness=1.0)),
    ]
    assert rank(near_sharp) == [0, 1]
    unknown_sharp = [
        member("a.jpg", quality=q(sharpness=None), mtime=OLD),
        member("b.jpg", quality=q(sharpness=1.0)),
    ]
    assert rank(unknown_sharp) == [0, 1]  # sharpness not read: never dropped for it


def test_largest_policy_is_the_old_rule() -> None:
    members = [
        member("png.png", bytes=500, quality=q(format="PNG", lossless=True, quality=None)),
        member("big.jpg", bytes=900, quality=q(quality=30)),
        member("tall.jpg", height=120, bytes=10),
    ]
    order = rank(members, "largest")
    assert order == [2, 1, 0]
    assert kept_because(members, order, "largest") == "more pixels (100×120 against 100×100)"
    assert kept_because(members, [1, 0], "largest") == "same pixels, more bytes (900 against 500)"


def test_oldest_and_newest_policies_use_exif_then_file_times() -> None:
    members = [
        member("exif.jpg", quality=q(quality=30, capture_time=OLD - 100), mtime=NEW),
        member("file.png", quality=q(format="PNG", lossless=True, quality=None), mtime=OLD),
        member("new.jpg", mtime=NEW + 100),
    ]
    assert rank(members, "oldest") == [0, 1, 2]
    assert rank(members, "newest") == [2, 1, 0]
    assert kept_because(members, [0, 1], "oldest") == (
        "older (EXIF 2017-07-14 02:38 against modified 2017-07-14 02:40 UTC)"
    )
    same_time = [member("a.jpg", quality=q(quality=50)), member("b.jpg")]
    assert rank(same_time, "oldest") == [1, 0]  # a tie in time: the quality cascade decides


def test_in_folder_policy_prefers_members_inside_it(tmp_path: Path) -> None:
    (tmp_path / "originals").mkdir()
    inside = member(str(tmp_path / "originals" / "a.jpg"), quality=q(quality=30))
    outside = member(str(tmp_path / "b.png"), quality=q(format="PNG", lossless=True, quality=None))
    policy = parse_keep(f"in:{tmp_path / 'originals'}")
    assert rank([outside, inside], policy) == [1, 0]
    assert rank([outside, inside]) == [0, 1]
    assert kept_because([outside, inside], [1, 0], policy) == f"in {(tmp_path / 'originals').resolve()}"


def test_parse_keep_reads_every_policy_and_names_bad_values(tmp_path: Path) -> None:
    for name in KEEP_POLICIES:
        policy = parse_keep(f" {name.upper()} ")
        assert policy.name == name and policy.folder is None and str(policy) == name
    assert parse_keep(f"in:{tmp_path}") == KeepPolicy("in", tmp_path.resolve())
    with pytest.raises(LookalikeError) as bad:
        parse_keep("biggest")
    assert str(bad.value) == (
        "keep 'biggest' is not one of quality, largest, oldest, newest or in:FOLDER; e.g. `keep='quality'`"
    )
    assert bad.value.hint == "e.g. `keep='quality'`"  # the command line shows it as --keep quality
    with pytest.raises(LookalikeError, match=r"keep 'in:' names no folder"):
        parse_keep("in:")
    with pytest.raises(LookalikeError, match=r"there is no folder .*nowhere"):
        parse_keep(f"in:{tmp_path / 'nowhere'}")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(LookalikeError, match=r"file\.txt is a file, not a folder"):
        parse_keep(f"in:{tmp_path / 'file.txt'}")
