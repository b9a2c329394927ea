"""The judge's second look: alignments the candidate search did not propose, for a pair turned down; and
the alignments read from what stands on a plain background."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

import planted_edits
from drawn_codes import qr_image, qr_modules
from drawn_shapes import OBJECT_COLOURS, shape
from lookalike.dedup import coarse, verify_pair
from lookalike.dedup import judge as judge_module
from lookalike.dedup.find import pair_judge
from lookalike.dedup.judge import CoarseResult, Judge
from lookalike.dedup.strictness import Strictness

LIMITS = Strictness.named("normal")


def _object(seed: int) -> tuple[random.Random, Image.Image]:
    rng = random.Random(seed)
    kind = rng.choice(["circle", "square", "triangle"])
    colour = rng.choice(OBJECT_COLOURS)
    img = shape(rng, kind, colour, (rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.5)), rng.uniform(0.1, 0.2))
    return rng, img


def _proposed_whole(a: Path, b: Path) -> Judge:
    """A judge of ``a`` and ``b`` that knows only the alignment a candidate search proposes for a crop of an
    object on white: the whole images as they are (which passes the coarse check at 0.96-0.98)."""
    judge = pair_judge(a, b, LIMITS)
    view_a, view_b = judge.views.of[0][0], judge.views.of[1][0]
    m = coarse.verify(judge.thumbs, [(view_a, view_b, 0)], coarse.WHOLE)[0]
    assert m.passes(LIMITS.min_ncc, LIMITS.max_rmse)
    judge.coarse[(0, 1)] = [CoarseResult(m, view_a, view_b, 0.9)]
    return judge


@pytest.mark.parametrize("seed", [6, 19])
def test_a_deep_crop_proposed_whole_is_found_by_the_second_look(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng, img = _object(seed)
    img.save(tmp_path / "object.png")
    cut, _, _ = planted_edits.crop75(img, rng)
    cut.save(tmp_path / "crop.png")
    judge = _proposed_whole(tmp_path / "object.png", tmp_path / "crop.png")
    found = judge.check_fine((0, 1))
    assert judge.fine_passes(found), f"ssim {found.ssim:.3f}, local {found.local}"
    assert found.box != (0.0, 0.0, 1.0, 1.0)  # the crop box, not the whole picture

    monkeypatch.setattr(judge_module, "SECOND_LOOK_STARTS", 0)  # without it, the proposed starts fail
    monkeypatch.setattr(judge_module, "SUBJECT_STARTS", 0)  # (as do the shapes' own: test_subjects below)
    alone = _proposed_whole(tmp_path / "object.png", tmp_path / "crop.png")
    assert not alone.fine_passes(alone.check_fine((0, 1)))


def test_the_second_look_does_not_join_a_moved_object(tmp_path: Path) -> None:
    """Two pictures of one circle a fifth of the width apart (not mirror images of each other): cutting one
    side lines the circles up, so the second look has alignments to try, and the fine check turns each down
    (the circle's size and the rest of the picture differ)."""
    colour = OBJECT_COLOURS[0]
    shape(random.Random(3), "circle", colour, (0.35, 0.4), 0.15).save(tmp_path / "a.png")
    shape(random.Random(3), "circle", colour, (0.55, 0.4), 0.15).save(tmp_path / "b.png")
    judge = pair_judge(tmp_path / "a.png", tmp_path / "b.png", LIMITS)
    view_a, view_b = judge.views.of[0][0], judge.views.of[1][0]
    whole = coarse.verify(judge.thumbs, [(view_a, view_b, 0)], coarse.WHOLE)[0]
    starts = judge._second_look((0, 1), [CoarseResult(whole, view_a, view_b, 0.5)])
    assert starts
    fa, fb = judge._fine_image(0), judge._fine_image(1)
    assert not any(judge.fine_passes(judge._fine_from((0, 1), fa, fb, [st])) for st in starts)


def _without_subjects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judge_module.subjects, "alignments", lambda *args: [])


def test_a_shape_in_a_wide_white_frame_is_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A white frame of 18% each side around a shape on white: the original fills 74% of each side of the
    copy, less than any crop box keeps, and the frame is no border to trim (the background runs on)."""
    img = shape(random.Random(7), "triangle", OBJECT_COLOURS[2], (0.62, 0.38), 0.08)
    img.save(tmp_path / "shape.png")
    framed = Image.new("RGB", (1088, 816), "white")
    framed.paste(img, (144, 108))
    framed.save(tmp_path / "framed.png")
    check = verify_pair(tmp_path / "shape.png", tmp_path / "framed.png")
    assert check.duplicate, check.to_dict()
    _without_subjects(monkeypatch)
    assert not verify_pair(tmp_path / "shape.png", tmp_path / "framed.png").duplicate


@pytest.mark.parametrize("seed", [2, 8])
def test_a_deep_crop_of_a_shape_is_placed_by_its_subject(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crops keeping 75-80% of a shape on white: at 12×12 many alignments of a small symmetric shape pass
    (mirrored and turned ones too), none placed closely enough for the close-up; the shapes' boxes and ink
    place the crop."""
    rng = random.Random(seed)
    img = shape(rng, "triangle", OBJECT_COLOURS[seed % 6], (rng.uniform(0.4, 0.6), 0.55), 0.08)
    img.save(tmp_path / "shape.png")
    planted_edits.crop75(img, rng)[0].save(tmp_path / "crop.png")
    assert verify_pair(tmp_path / "shape.png", tmp_path / "crop.png").duplicate
    _without_subjects(monkeypatch)
    assert not verify_pair(tmp_path / "shape.png", tmp_path / "crop.png").duplicate


def test_a_code_cut_through_is_let_through_the_coarse_check_by_its_subject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A QR-like code cropped through its last rows: the nearest crop box is 2% off, where the 12×12
    thumbnails differ by more than the coarse check allows; the code's box and ink place the crop."""
    img = qr_image(qr_modules(random.Random(11)))
    img.save(tmp_path / "code.png")
    img.crop((7, 0, 315, 270)).save(tmp_path / "cut.png")
    check = verify_pair(tmp_path / "code.png", tmp_path / "cut.png")
    assert check.duplicate, check.to_dict()
    _without_subjects(monkeypatch)
    assert not verify_pair(tmp_path / "code.png", tmp_path / "cut.png").coarse_passed


def test_two_codes_in_one_frame_stay_apart(tmp_path: Path) -> None:
    """Two codes of one size in the same margin, their finder squares alike: their boxes line up exactly
    (the whole view), and a crop of one lines up with the other nowhere the fine check lets through."""
    a, b = qr_image(qr_modules(random.Random(12))), qr_image(qr_modules(random.Random(13)))
    a.save(tmp_path / "a.png")
    b.crop((7, 0, 315, 270)).save(tmp_path / "b.png")
    assert not verify_pair(tmp_path / "a.png", tmp_path / "b.png").duplicate


def _judge_of(paths: list[Path]) -> Judge:
    from lookalike.dedup.judge import Views
    from lookalike.dedup.reading import read_one

    reads = [read_one(p) for p in paths]
    return Judge(
        coarse.Thumbnails.stack([t for r in reads for t in r.thumbs]),
        Views.of_nodes([r.facts.content for r in reads]),
        [r.fine for r in reads],
        paths,
        LIMITS,
        orientations=tuple(range(8)),
        crops=True,
        sizes=[(r.facts.width, r.facts.height) for r in reads],
    )


def test_pairs_checked_together_are_judged_as_one_by_one(tmp_path: Path) -> None:
    """Keeper-first grouping checks the pairs of a family of look-alikes in one coarse check: each pair
    gets the verdict and the matches it gets alone, failing pairs included, each pair once."""
    rng, img = _object(6)
    img.save(tmp_path / "object.png")
    planted_edits.crop75(img, rng)[0].save(tmp_path / "crop.png")
    img.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.png")
    _object(19)[1].save(tmp_path / "other.png")
    paths = [tmp_path / n for n in ("object.png", "crop.png", "turned.png", "other.png")]
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    together, alone = _judge_of(paths), _judge_of(paths)
    together.check_pairs(pairs + pairs[:2])
    for p in pairs:
        alone.check_pair(*p)
    assert sorted(together.coarse) == sorted(alone.coarse) == pairs
    for p in pairs:
        assert together.coarse_passed(p) == alone.coarse_passed(p)
        got, want = together.coarse[p], alone.coarse[p]
        assert [(c.view_a, c.view_b, c.match.box) for c in got] == [
            (c.view_a, c.view_b, c.match.box) for c in want
        ]
        assert [c.match.ncc for c in got] == pytest.approx([c.match.ncc for c in want], abs=1e-5)
    assert together.coarse_passed((0, 2)) and not together.coarse_passed((0, 3))
