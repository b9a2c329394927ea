"""The fine check (lookalike.dedup.fine) and keeper-first grouping on images that share a layout: pages of
different words, app windows whose text differs, shapes moved or recoloured — and their true duplicates."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hard_negatives as hn
from lookalike.dedup import find_duplicates, reading, verify_pair
from lookalike.dedup.fine import tile_ssim
from lookalike.dedup.grouping import keeper_first_groups
from lookalike.dedup.judge import GIVE_UP_MARGIN

SMALL_PAGE = hn.PageLayout((620, 877), "DejaVuSerif.ttf", 14, 60, 40, 22)


def _save(img: Image.Image, path: Path, **kw: object) -> Path:
    img.save(path, **kw)
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two pages of one layout with different words, and a JPEG, a half-size copy and a 95% crop of the
    first."""
    folder = tmp_path_factory.mktemp("pages")
    rng = random.Random(3)
    a, b = hn.page(SMALL_PAGE, rng), hn.page(SMALL_PAGE, rng)
    crop, _ = hn.variant(a, "crop", rng)
    return {
        "a": _save(a, folder / "a.png"),
        "b": _save(b, folder / "b.png"),
        "a-jpeg": _save(a, folder / "a-jpeg.jpg", quality=70),
        "a-half": _save(a.resize((310, 438), Image.Resampling.BICUBIC), folder / "a-half.png"),
        "a-crop": _save(crop, folder / "a-crop.png"),
    }


def test_two_pages_of_one_layout_with_other_words_are_not_duplicates(pages: dict[str, Path]) -> None:
    check = verify_pair(pages["a"], pages["b"])
    assert check.coarse_passed, "the layout alone already looks the same at 12×12 (the point of the test)"
    assert not check.duplicate and check.decided_by == "fine"
    # hopeless at every alignment tried: decided on the 64 px grid, far below the bar (0.8)
    assert check.ssim is not None and check.ssim < 0.8 - GIVE_UP_MARGIN


@pytest.mark.parametrize("variant", ["a-jpeg", "a-half", "a-crop"])
def test_a_re_encoded_resized_or_cropped_page_is_a_duplicate(pages: dict[str, Path], variant: str) -> None:
    check = verify_pair(pages["a"], pages[variant])
    assert check.duplicate, check.to_dict()
    assert check.ssim is not None and check.ssim >= 0.8
    assert check.cropped == (variant == "a-crop")


def test_app_windows_of_one_layout_with_other_text_are_not_duplicates(tmp_path: Path) -> None:
    rng = random.Random(5)
    one, two = hn.screenshot(0, rng), hn.screenshot(0, rng)
    check = verify_pair(_save(one, tmp_path / "1.png"), _save(two, tmp_path / "2.png"))
    assert not check.duplicate
    again = verify_pair(tmp_path / "1.png", _save(one, tmp_path / "1.jpg", quality=70))
    assert again.duplicate, again.to_dict()


def test_a_moved_or_recoloured_shape_is_not_a_duplicate(tmp_path: Path) -> None:
    rng = random.Random(0)
    red = hn.shape(rng, "circle", (220, 40, 40), (0.3, 0.5), 0.08)
    moved = hn.shape(rng, "circle", (220, 40, 40), (0.3, 0.68), 0.08)
    blue = hn.shape(rng, "circle", (40, 90, 220), (0.3, 0.5), 0.08)
    base = _save(red, tmp_path / "red.png")
    assert not verify_pair(base, _save(moved, tmp_path / "moved.png")).duplicate
    recoloured = verify_pair(base, _save(blue, tmp_path / "blue.png"))
    assert not recoloured.duplicate
    assert verify_pair(base, _save(red, tmp_path / "red.jpg", quality=70)).duplicate


def test_tile_ssim_is_lowest_where_one_tile_differs() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((64, 64)).astype(np.float32)
    assert tile_ssim(a, a) == pytest.approx(1.0)
    b = a.copy()
    b[:8, :8] = rng.random((8, 8))  # one tile of 64 replaced
    assert tile_ssim(a, b) < 0.5  # the mean over tiles would still be above 0.9


def test_a_group_holds_only_duplicates_of_its_keeper() -> None:
    # 0≈1 and 1≈2 were verified, but 0 and 2 differ: 2 must not join 0's group through 1
    dup = {(0, 1), (1, 2)}
    groups = keeper_first_groups(3, sorted(dup), lambda n: n, lambda i, j: (min(i, j), max(i, j)) in dup)
    assert groups == [[0, 1]]


def test_find_duplicates_groups_the_copies_and_not_the_look_alikes(pages: dict[str, Path]) -> None:
    result = find_duplicates([pages[k] for k in ("a", "b", "a-jpeg", "a-half", "a-crop")])
    assert len(result.groups) == 1
    assert set(result.groups[0].paths) == {pages[k] for k in ("a", "a-jpeg", "a-half", "a-crop")}
    # the keeper has the most pixels, then the most bytes: the original or its same-size JPEG
    assert result.groups[0].keeper in (pages["a"], pages["a-jpeg"])
    kinds = {m.path: m.kind for m in result.groups[0].members}
    assert kinds[pages["a-half"]] == "resized" and kinds[pages["a-crop"]] == "cropped"
    data = result.to_dict()
    member = data["groups"][0]["members"][1]
    assert set(member["coarse"]) == {"ncc", "rmse"} and set(member["fine"]) == {"ssim", "detail", "colour"}
    assert any(r["decided_by"] == "fine" and not r["duplicate"] for r in data["rejected"])


def test_strictness_presets_and_a_single_threshold(pages: dict[str, Path]) -> None:
    files = [pages["a"], pages["a-crop"]]
    assert find_duplicates(files, strictness="normal").groups
    assert not find_duplicates(files, min_ssim=0.999).groups  # a crop is not pixel-identical
    with pytest.raises(Exception, match="strictness"):
        find_duplicates(files, strictness="medium")


def test_pixel_dedup_does_not_import_torch(pages: dict[str, Path]) -> None:
    code = (
        "import sys, json; from lookalike.cli import app; from typer.testing import CliRunner; "
        f"r = CliRunner().invoke(app, ['dedup', {str(pages['a'].parent)!r}, '--json', '-']); "
        "print(len(json.loads(r.stdout)['groups']), 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "False"]  # `lookalike dedup DIR` grouped, without loading torch


def test_fine_thumbnails_past_the_memory_budget_are_read_again(
    pages: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [pages[k] for k in ("a", "b", "a-jpeg", "a-half", "a-crop")]
    kept = find_duplicates(files)
    monkeypatch.setattr("lookalike.dedup.reading.FINE_BUDGET", 0)  # keep none from the first read
    again = find_duplicates(files)
    assert [g.paths for g in again.groups] == [g.paths for g in kept.groups]
    assert [m.ssim for m in again.groups[0].members] == [m.ssim for m in kept.groups[0].members]


def test_a_file_gone_before_its_fine_check_is_not_a_duplicate(
    pages: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "a-copy.jpg"
    copy.write_bytes(pages["a-jpeg"].read_bytes())
    monkeypatch.setattr("lookalike.dedup.reading.FINE_BUDGET", 0)

    real_read_all = reading.read_all

    def read_then_delete(*args: object, **kw: object) -> reading.Collection:
        out = real_read_all(*args, **kw)  # type: ignore[arg-type]
        copy.unlink()  # gone between the scan and the fine check
        return out

    monkeypatch.setattr("lookalike.dedup.find.read_all", read_then_delete)
    result = find_duplicates([pages["a"], copy])
    assert result.groups == [] and result.rejected and result.rejected[0].ssim == -1.0


def test_a_disc_and_a_square_at_one_place_differ_in_detail(tmp_path: Path) -> None:
    # one size, one colour, one place: the 1/8 tiles average the corners away, the detail tiles do not
    rng = random.Random(0)
    disc = _save(hn.shape(rng, "circle", (30, 160, 70), (0.5, 0.5), 0.05), tmp_path / "disc.png")
    square = _save(hn.shape(rng, "square", (30, 160, 70), (0.5, 0.5), 0.05), tmp_path / "square.png")
    check = verify_pair(disc, square)
    assert not check.duplicate and check.detail is not None and check.detail < 0.5
    assert verify_pair(
        disc, _save(Image.open(disc).convert("RGB"), tmp_path / "disc.jpg", quality=70)
    ).duplicate


def test_a_halved_cifar_image_keeps_its_colours(tmp_path: Path) -> None:
    """A CIFAR-10 image and its bicubic 16×16 halving (from benchmarks/dedup.py): halving blurs colour
    detail, 0.06–0.09 in one channel of an 8×8 px tile — the tile colour check averages the channels."""
    fixtures = Path(__file__).parent / "fixtures"
    for name in ("cifar-original.jpg", "cifar-halved.png"):
        shutil.copyfile(fixtures / name, tmp_path / name)
    (group,) = find_duplicates(tmp_path).groups
    assert {p.name for p in group.paths} == {"cifar-original.jpg", "cifar-halved.png"}
    assert group.keeper.name == "cifar-original.jpg"


def _assert_copy_found_and_not_of(
    folder: Path, edit: str, original: Image.Image, other: Image.Image, rng: random.Random
) -> None:
    """``edit`` planted on ``original`` is its duplicate, and not one of ``other`` (a look-alike)."""
    import planted_edits

    copy, fmt, options = planted_edits.apply(edit, original, rng)
    copy_path = planted_edits.save(copy, folder / "copy", fmt, options)
    check = verify_pair(_save(original, folder / "original.png"), copy_path)
    assert check.duplicate, check.to_dict()
    assert not verify_pair(_save(other, folder / "other.png"), copy_path).duplicate


@pytest.mark.parametrize("layout", [0, 1])
def test_a_brightened_window_whose_panels_clip_to_white_is_a_duplicate_and_not_of_its_sister(
    tmp_path: Path, layout: int
) -> None:
    """Brightened by 12%, a window's title bar, sidebar and card backgrounds go white and their edges with
    them: compared as they are, the tiles there differ (SSIM 0.3–0.6); aligned and compared with the
    original clipped alike, the copy passes — and is still not taken for a window of other words."""
    rng = random.Random(layout)
    original, sister = hn.screenshot(layout, rng), hn.screenshot(layout, rng)
    _assert_copy_found_and_not_of(tmp_path, "bright", original, sister, rng)


def test_a_crop_that_only_goes_through_a_shape_shows_nothing_of_its_own() -> None:
    from lookalike.dedup.fine import only_cut_through

    cut = (0.0, 0.15, 0.9, 0.93)  # top, right and bottom cut
    corner = np.ones((100, 80), np.float32)
    corner[0:15, 68:80] = 0.3  # what a cut through a large square leaves at the corner
    assert only_cut_through(corner, cut)
    assert not only_cut_through(corner, (0.0, 0.0, 1.0, 1.0))  # nothing cut: the square is whole
    inside = corner.copy()
    inside[40:60, 30:50] = 0.3  # a shape the cut left whole
    assert not only_cut_through(inside, cut)
    photo = np.random.default_rng(0).random((100, 80)).astype(np.float32)  # no plain background
    assert not only_cut_through(photo, cut)


def test_a_large_square_cut_to_its_corner_does_not_pass_for_a_small_square(tmp_path: Path) -> None:
    """Two pictures of one blue square on white, 128 px and 80 px, near the top right: each one's content
    box (the white trimmed up to the square on two sides) puts the square at its corner, and cutting the
    large one's box by 15% from the top and 8% from the right leaves a corner that looks like the small
    square at 256 px (SSIM 0.87). The crop search proposes exactly that; it must not pass."""
    from lookalike.dedup.candidates import Candidates
    from lookalike.dedup.find import pair_judge
    from lookalike.dedup.strictness import Strictness

    paths = []
    for name, (x0, y0, side) in {"large": (544, 143, 129), "small": (584, 118, 81)}.items():
        img = Image.new("RGB", (800, 600), "white")
        img.paste((40, 90, 220), (x0, y0, x0 + side, y0 + side))
        paths.append(_save(img, tmp_path / f"{name}.png"))
    judge = pair_judge(*paths, Strictness.named("normal"))
    assert [len(v) for v in judge.views.of] == [2, 2]  # each has a content box
    rows = (np.asarray([judge.views.of[0][1]]), np.asarray([judge.views.of[1][1]]), np.asarray([0]))
    judge.check_coarse(Candidates(*rows, judge.scores(*rows), np.asarray([1])))
    assert judge.coarse_passed((0, 1))  # the content boxes alike at 12×12: the crop search finds a cut
    found = judge.check_fine((0, 1))
    assert found.cropped and not found.anchored and not judge.fine_passes(found)
    assert not verify_pair(*paths).duplicate


@pytest.mark.parametrize("seed", [1, 2])
def test_a_letterboxed_chat_is_its_original_and_not_the_same_chat_at_another_time(
    tmp_path: Path, seed: int
) -> None:
    """A 750×1334 chat screenshot letterboxed into black: reduced, the black bleeds into the first pixel of
    the picture, and the grey background's edge beside white bubbles is darker on one side only (SSIM
    0.49–0.75 there) — that blend is left out of the comparison. The same conversation at a clock one
    digit later stays apart."""
    import drawn_chats

    rng = random.Random(seed)
    family = [d for d in drawn_chats.draw(rng, per_family=4) if d.family == "chat-green"]
    later = next(d.image for d in family[1:] if d.spot_group == "conversation 0")
    _assert_copy_found_and_not_of(tmp_path, "letterbox", family[0].image, later, rng)
