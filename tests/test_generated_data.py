"""The dedup test data keeps its promises (tests/hard_negatives.py, tests/planted_edits.py): look-alikes
differ in little but differ, planted copies are exactly the edit they claim, originals are older than their
copies."""

from __future__ import annotations

import functools
import hashlib
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import family_spots as fs
import hard_negatives as hn
import planted_edits as pe


def _pixels(img: Image.Image | Path) -> np.ndarray:
    if isinstance(img, Path):
        with Image.open(img) as opened:
            return np.asarray(opened.convert("RGB"))
    return np.asarray(img.convert("RGB"))


def _differing(a: Image.Image, b: Image.Image) -> np.ndarray:
    assert a.size == b.size
    return (_pixels(a) != _pixels(b)).any(-1)


def test_the_edit_tables_name_every_edit_and_category() -> None:
    assert len(pe.EDITS) == 20 and set(pe.DESCRIPTION) == set(pe.RELATION) == set(pe.EDITS)
    assert set(pe.EDITS_OF) == set(hn.CATEGORIES) == set(hn.VARIANTS_OF)
    assert "mirror" not in pe.EDITS_OF["document"] and "rot90" in pe.EDITS_OF["document"]
    assert set(pe.EDITS_OF["photo"]) == set(pe.EDITS_OF["code"]) == set(pe.EDITS)
    assert pe.RELATION["transpose"] == "mirrored and rotated 90°" and pe.RELATION["jpeg30"] == "identity"
    with pytest.raises(ValueError, match="pick from"):
        pe.apply("blur", Image.new("RGB", (8, 8)), random.Random(0))


def test_document_family_members_differ_only_in_a_few_digits() -> None:
    docs = hn.documents(random.Random(0))
    families = {f for f, _, _ in docs}
    assert families == {"document-receipt80", "document-receipt58", "document-invoice"}
    for family in families:
        notes = [note for f, _, note in docs if f == family]
        assert len(notes) == hn.FAMILY_SIZE["document"]
        assert notes[1].startswith("member 0 with total") and ";" not in notes[1]  # one digit
        grey = [np.asarray(img.convert("L")) for f, img, _ in docs if f == family]  # black text on white
        for i, a in enumerate(grey):
            for b in grey[:i]:
                changed = int((a != b).sum())
                assert 0 < changed < 0.01 * a.size, (family, changed)
        rows = np.flatnonzero((grey[0] != grey[1]).any(1))
        assert rows.max() - rows.min() < 60  # the total's digit only, one text line


def test_charts_differing_in_one_value_differ_in_one_bar_only() -> None:
    bars = [img for f, img, _ in hn.charts(random.Random(1)) if f == "chart-bar"]
    columns = np.flatnonzero(_differing(bars[0], bars[1]).any(0))
    assert 0 < columns.max() - columns.min() < 100  # one bar of eight, 65% of a 110 px slot


def test_chat_members_sharing_a_conversation_differ_in_the_clock_or_one_message() -> None:
    shots = [img for f, img, _ in hn.chats(random.Random(2), per_family=4) if f == "chat-green"]
    clock = np.flatnonzero(_differing(shots[0], shots[2]).any(1))
    assert 0 < clock.max() < 22 * 2  # in the status bar
    message = _differing(shots[1], shots[3])
    assert 0 < message.sum() < 0.1 * message.size


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distinct_codes_are_no_turn_or_mirror_of_each_other(seed: int) -> None:
    codes = hn.codes(random.Random(seed))
    assert not hn.orientation_clashes([img for _, img, _ in codes])
    rng = random.Random(seed + 10)
    grids = [hn.qr_modules(rng) for _ in range(8)]
    assert not hn.orientation_clashes(grids, min_apart=60)
    eans = [img for f, img, _ in codes if f == "code-ean"]
    bars = np.flatnonzero(_differing(eans[0], eans[1])[30])  # a row through the bars
    assert 0 < len(bars) <= 2 * 7 * 5  # the last digit and the check digit: two 7-module groups, 5 px each


def test_shapes_stay_apart_from_the_mirror_images_and_frames_of_their_look_alikes() -> None:
    found = []
    for img in hn.objects(random.Random(4), 40):
        a = _pixels(img)
        ink = (a != 255).any(-1)
        ys, xs = np.nonzero(ink)
        colour = tuple(int(v) for v in a[ys[0], xs[0]])
        radius = round((xs.max() - xs.min()) / 800 / 0.02) / 100  # 0.05, 0.08, 0.12 of the width
        kind = round(ink.sum() / ((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)), 1)  # 1, 0.8, 0.5
        found.append((colour, kind, radius, (xs.min() + xs.max()) / 2 / 800, (ys.min() + ys.max()) / 2 / 600))

    def far(x: float, y: float, x2: float, y2: float) -> bool:  # also from (1 - x2, y2), (x2, 1 - y2), ...
        return min(abs(x - x2), abs(1 - x - x2)) >= 0.11 or min(abs(y - y2), abs(1 - y - y2)) >= 0.11

    for i, (c, k, r, x, y) in enumerate(found):
        for c2, k2, r2, x2, y2 in found[:i]:
            if (c, k) != (c2, k2):
                continue
            if r == r2:
                assert far(x, y, x2, y2), (found[i], (c2, k2, r2, x2, y2))
            elif {r, r2} == {0.08, 0.12}:  # a 25% white frame shrinks 0.12 to 0.08, moving it to the middle
                (bx, by), (sx, sy) = ((x, y), (x2, y2)) if r > r2 else ((x2, y2), (x, y))
                assert far((bx + 0.25) / 1.5, (by + 0.25) / 1.5, sx, sy), (found[i], (c2, k2, r2, x2, y2))


def _coordinates(w: int, h: int) -> Image.Image:
    """Every pixel tells where it is: red = x mod 256, green = y mod 256, blue = x // 256 * 16 + y // 256."""
    y, x = np.mgrid[:h, :w]
    return Image.fromarray(np.stack([x % 256, y % 256, (x // 256) * 16 + y // 256], -1).astype(np.uint8))


@pytest.mark.parametrize("size", [(32, 32), (800, 600), (576, 1404), (1240, 1754)])
def test_crops_keep_what_they_say(size: tuple[int, int]) -> None:
    img = _coordinates(*size)
    rng = random.Random(sum(size))
    for _ in range(5):
        crop, fmt, _ = pe.crop75(img, rng)
        assert fmt == "png" and 0.75 <= crop.width * crop.height / (size[0] * size[1]) <= 0.80
        assert crop.width >= 0.8 * size[0] and crop.height >= 0.8 * size[1]
        r, g, b = (int(v) for v in _pixels(crop)[0, 0])
        x, y = r + (b // 16) * 256, g + (b % 16) * 256
        assert (_pixels(crop) == _pixels(img)[y : y + crop.height, x : x + crop.width]).all()
    five, _, _ = pe.crop5(img, rng)
    assert abs(five.width * five.height / (size[0] * size[1]) - 0.81) < 0.03


def test_crop_boxes_hold_what_they_must_keep_and_draw_as_before_otherwise() -> None:
    rng = random.Random(7)
    for size in [(32, 32), (800, 600), (576, 1404), (1080, 2340)]:
        w, h = size
        for _ in range(40):
            x0, y0 = rng.randrange(w), rng.randrange(h)
            keep = (x0, y0, rng.randint(x0 + 1, w), rng.randint(y0 + 1, h))  # small spots to ones as large
            for edit in pe.CROPS:
                seed = rng.random()
                with_keep, without = random.Random(seed), random.Random(seed)
                box, drawn = pe.crop_box(edit, size, with_keep, keep)
                assert pe.crop_box(edit, size, without) == (drawn, drawn)
                assert with_keep.getstate() == without.getstate()  # later edits draw as if nothing was kept
                assert fs.contains(box, keep) and fs.contains((0, 0, w, h), box)
                assert (box == drawn) == fs.contains(drawn, keep)
                assert pe.crop_box(edit, size, random.Random(seed), keep) == (box, drawn)  # one seed, one box
                bw, bh = box[2] - box[0], box[3] - box[1]
                if edit == "crop5":  # 90% of each side, shifted; a side grows only to what it must keep
                    assert (bw, bh) == (
                        max(round(w * 0.9), keep[2] - keep[0]),
                        max(round(h * 0.9), keep[3] - keep[1]),
                    )
                else:
                    assert bw >= 0.8 * w and bh >= 0.8 * h and bw * bh >= 0.75 * w * h
                    if keep[2] - keep[0] <= 0.8 * w and keep[3] - keep[1] <= 0.8 * h:
                        assert bw * bh <= 0.80 * w * h  # a 75–80% box could hold it: one does
            box, drawn = hn.variant_crop_box(size, random.Random(3), keep)
            assert (
                fs.contains(box, keep)
                and box[2] - box[0] >= round(0.95 * w)
                and (box == drawn) == fs.contains(drawn, keep)
            )


def _crop_problems(planted: list[hn.Planted]) -> list[str]:
    """What is wrong with the planted crops (crop5, crop75, crop) of ``planted``: a crop that is not its
    original cut at its recorded ``box``; one that is also the same crop of another member of the family (it
    kept no pixel in which the two differ); one that cut away some of the spots in which its original
    differs from a member of its spot group."""
    originals = {p.origin: p for p in planted if p.kind == "original"}
    pixels = functools.cache(lambda i: _pixels(originals[i].path))
    differing = functools.cache(lambda i, j: (pixels(i) != pixels(j)).any(-1))  # i > j
    problems = []
    for p in planted:
        if p.kind not in ("crop5", "crop75", "crop"):
            continue
        assert p.box is not None, p
        o, a = originals[p.origin], pixels(p.origin)
        x0, y0, x1, y1 = p.box
        if not np.array_equal(_pixels(p.path), a[y0:y1, x0:x1]):
            problems.append(f"{p.kind} of {p.origin} is not its original at {p.box}")
        for s in originals.values():
            if s.family != o.family or s.origin == o.origin or pixels(s.origin).shape != a.shape:
                continue
            differ = differing(max(o.origin, s.origin), min(o.origin, s.origin))
            kept, everywhere = np.count_nonzero(differ[y0:y1, x0:x1]), np.count_nonzero(differ)
            what = f"{p.kind} {p.box} of {o.family} {p.origin} ({o.note!r}) against {s.origin} ({s.note!r})"
            if not kept:
                problems.append(f"{what}: also a crop of {s.origin}")
            elif o.spot_group and o.spot_group == s.spot_group and kept < everywhere:
                problems.append(
                    f"{what}: cut {everywhere - kept} of the {everywhere} pixels where they differ"
                )
    return problems


@pytest.mark.slow
def test_crops_of_look_alikes_keep_every_spot_in_which_their_family_differs(tmp_path: Path) -> None:
    # small families, each with all kinds of member: documents differing in the total's digit or in others,
    # charts in one value or in all, the chats sharing a conversation and others
    sizes = {"document": 4, "chart": 5, "code": 4, "chat": 4}
    planted = hn.build(
        tmp_path / "edits", categories=list(sizes), edits=["crop5", "crop75"], per_edit=12, family_size=sizes
    )
    crops = [p for p in planted if p.kind != "original"]
    grouped = {p.origin for p in planted if p.spot_group}
    for edit in ("crop5", "crop75"):  # every member of a spot group is cropped by each edit
        assert {p.origin for p in crops if p.kind == edit} >= grouped
    assert not _crop_problems(planted)
    moved = [p for p in crops if p.note.startswith("moved to keep the spots")]
    assert moved and all(p.origin in grouped for p in moved)
    old = hn.build(tmp_path / "old", categories=["chat"], variants_per_kind={"chat": 8}, family_size=sizes)
    assert len([p for p in old if p.kind == "crop"]) == 8 and not _crop_problems(old)


def test_the_crop_check_catches_crops_that_cut_the_spots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as the crops were planted before: cutting 5% off the top takes the clock out of every chat screenshot
    monkeypatch.setattr(hn, "spot_boxes", lambda members: [None] * len(members))
    planted = hn.build(tmp_path, categories=["chat"], edits=["crop5"], per_edit=8, family_size={"chat": 4})
    problems = _crop_problems(planted)
    assert any("also a crop of" in problem and "instead of" in problem for problem in problems), problems


def test_frames_are_uniform_and_as_wide_as_promised() -> None:
    img = _coordinates(400, 300)
    boxed, fmt, _ = pe.letterbox(img, random.Random(0))
    a = _pixels(boxed)
    assert fmt == "png" and boxed.size == (480, 360)  # 10% of each side, on each side
    assert (a[:30] == 0).all() and (a[-30:] == 0).all() and (a[:, :40] == 0).all() and (a[:, -40:] == 0).all()
    assert (a[30:-30, 40:-40] == _pixels(img)).all()  # the content is not scaled
    rng = random.Random(1)
    for _ in range(5):
        framed, _, _ = pe.frame(img, rng)
        dx = (framed.width - 400) // 2
        assert 0.05 <= dx / 400 <= 0.20 and (_pixels(framed)[:, :dx] == 255).all()
        boxed, fmt, _ = pe.pillarbox(img, rng)
        bar = _pixels(boxed)[:, :5].reshape(-1, 3)
        assert fmt == "jpeg" and tuple(bar[0]) in pe.BAR_COLOURS and (bar == bar[0]).all()
        assert boxed.size == (400, 225)  # 4:3 → 16:9, long side kept
        inner = (_pixels(boxed) != bar[0]).any(-1).any(0)
        assert inner.sum() / boxed.width >= 0.5  # bars ≤ 25% each side


def test_small_is_a_quarter_unless_that_goes_under_200_px() -> None:
    rng = random.Random(0)
    assert pe.small(Image.new("RGB", (1240, 1754)), rng)[0].size == (310, 438)
    assert pe.small(Image.new("RGB", (600, 400)), rng)[0].size == (300, 200)
    assert pe.small(Image.new("RGB", (32, 32)), rng)[0].size == (16, 16)


def test_geometric_edits_are_exact_and_follow_the_stated_convention(tmp_path: Path) -> None:
    img = _coordinates(60, 40)
    a = _pixels(img)
    expected = {
        "rot90": np.rot90(a, 1),
        "rot180": np.rot90(a, 2),
        "rot270": np.rot90(a, 3),
        "mirror": a[:, ::-1],
        "transpose": np.rot90(a[:, ::-1], 1),
        "transverse": np.rot90(a[:, ::-1], 3),
    }
    assert set(expected) == set(pe.GEOMETRIC)
    for edit, want in expected.items():
        out, fmt, options = pe.apply(edit, img, random.Random(0))
        path = pe.save(out, tmp_path / edit, fmt, options)
        assert path.suffix == ".png" and (_pixels(path) == want).all(), edit
        assert (_pixels(pe.orient(img, *pe.ORIENTATION[edit])) == want).all(), edit
    assert pe.apply("rot90", img, random.Random(0), source_fmt="jpeg")[1:] == ("jpeg", {"quality": 90})


def test_the_other_edits_change_the_pixels_a_little(tmp_path: Path) -> None:
    img = hn.chart("bar", [[50, 60, 70, 80, 90, 100, 40, 30]], size=(300, 210))
    base = _pixels(img).astype(int)
    for edit in ("jpeg30", "webp", "bright", "dark", "contrast", "gamma", "cast", "scan"):
        out, fmt, options = pe.apply(edit, img, random.Random(3))
        back = _pixels(pe.save(out, tmp_path / edit, fmt, options)).astype(int)
        assert back.shape == base.shape and 0 < np.abs(back - base).mean() < 40, edit


def test_build_writes_originals_first_and_older_and_copies_exactly(tmp_path: Path) -> None:
    planted = hn.build(
        tmp_path / "set", categories=["code"], edits=["jpeg30", "rot90", "mirror", "letterbox"], per_edit=2
    )
    originals = [p for p in planted if p.kind == "original"]
    copies = [p for p in planted if p.kind != "original"]
    assert len(originals) == 12 and len(copies) == 8 and planted[: len(originals)] == originals
    assert {p.family for p in originals} == {"code-qr", "code-ean"} and all(p.fmt == "png" for p in originals)
    newest = max(p.path.stat().st_mtime for p in originals)
    assert all(p.path.stat().st_mtime >= newest + 60 for p in copies)
    by_id = {p.origin: p for p in originals}
    for p in copies:
        assert p.family == by_id[p.origin].family and p.path.suffix == pe.SUFFIX[p.fmt]
        if p.kind in ("rot90", "mirror"):
            want = pe.orient(Image.open(by_id[p.origin].path).convert("RGB"), *pe.ORIENTATION[p.kind])
            assert (_pixels(p.path) == _pixels(want)).all()
    mirrored = [p.origin for p in copies if p.kind == "mirror"]
    assert len(set(mirrored)) == 2  # two different originals
    again = hn.build(
        tmp_path / "again", categories=["code"], edits=["jpeg30", "rot90", "mirror", "letterbox"]
    )
    digest = [hashlib.sha256(p.path.read_bytes()).hexdigest() for p in planted]
    assert digest == [hashlib.sha256(p.path.read_bytes()).hexdigest() for p in again]  # one seed, one set


def test_build_without_edits_plants_the_old_variants(tmp_path: Path) -> None:
    planted = hn.build(tmp_path, categories=["object"], n_objects=4, variants_per_kind={"object": 2})
    assert {p.kind for p in planted} == {"original", *hn.VARIANTS_OF["object"]}
    assert sum(p.kind != "original" for p in planted) == 2 * len(hn.VARIANTS_OF["object"])
    with pytest.raises(ValueError, match="unknown categories"):
        hn.build(tmp_path, categories=["pages"])


def test_photo_crops_keep_at_most_40_percent_of_their_photo() -> None:
    pytest.importorskip("skimage")
    found = hn.photos(random.Random(0), names=("astronaut", "coffee"))
    whole = {f: img for f, img, note in found if note == "the whole photo"}
    crops = [(f, img) for f, img, note in found if note != "the whole photo"]
    assert len(whole) == 2 and len(crops) == 4
    for family, crop in crops:
        assert crop.width * crop.height <= 0.40 * whole[family].width * whole[family].height
