"""Image statistics: each kind found on a planted picture among ordinary ones, weighed against the folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from format_files import photo
from lookalike.inspection.stats import (
    STAT_KINDS,
    ImageStats,
    blur_measure,
    edge_width,
    measure,
    measure_many,
    percentiles,
    stat_findings,
    stat_outliers,
)


def stats_of(img: Image.Image) -> ImageStats:
    fine = img.copy()
    fine.thumbnail((256, 256))
    return measure(fine, img.size)


def ordinary(n: int = 12) -> list[Image.Image]:
    return [photo(240 + 8 * i, 160 + 4 * i, seed=i) for i in range(n)]


def odd(kind: str) -> Image.Image:
    img = photo(256, 176, seed=99)
    if kind == "blurry":
        return img.filter(ImageFilter.GaussianBlur(6))
    if kind == "dark":
        return ImageEnhance.Brightness(img).enhance(0.1)
    if kind == "light":
        a = np.asarray(img, np.float32) / 255
        return Image.fromarray((255 * (0.83 + 0.17 * a)).astype(np.uint8))
    if kind == "low_information":
        rng = np.random.default_rng(0)
        return Image.fromarray(np.clip(120 + rng.normal(0, 1.5, (176, 256, 3)), 0, 255).astype(np.uint8))
    if kind == "grayscale":
        return img.convert("L").convert("RGB")
    if kind == "odd_size":
        return img.resize((1400, 960))
    assert kind == "odd_aspect_ratio"
    return img.resize((640, 120))


@pytest.mark.parametrize("kind", STAT_KINDS)
def test_each_kind_is_found_on_its_picture_and_on_no_ordinary_one(kind: str) -> None:
    images = [*ordinary(), odd(kind)]
    paths = [Path(f"{i}.png") for i in range(len(images))]
    findings, notes = stat_findings(paths, [stats_of(img) for img in images])
    assert [f.path for f in findings if f.kind == kind] == [paths[-1]], [(f.path, f.kind) for f in findings]
    assert not [f for f in findings if f.path != paths[-1]]  # the ordinary photos are clean
    mine = next(f for f in findings if f.kind == kind)
    assert 0 < mine.score <= 1 and {"value", "threshold", "why"} <= set(mine.evidence)
    assert not notes


def test_a_kind_most_of_the_folder_has_is_its_nature_not_a_problem() -> None:
    grey = [img.convert("L").convert("RGB") for img in ordinary(8)] + ordinary(3)
    paths = [Path(f"{i}.png") for i in range(len(grey))]
    findings, notes = stat_findings(paths, [stats_of(img) for img in grey])
    assert not [f for f in findings if f.kind == "grayscale"]
    assert notes == ["grayscale: 8 of 11 images, the folder's nature: not reported"]


def test_a_dark_picture_is_not_also_near_blank() -> None:
    images = [*ordinary(), ImageEnhance.Brightness(photo(256, 176, seed=7)).enhance(0.05)]
    paths = [Path(f"{i}.png") for i in range(len(images))]
    findings, _ = stat_findings(paths, [stats_of(img) for img in images])
    assert {f.kind for f in findings if f.path == paths[-1]} == {"dark"}


def test_blur_measure_is_low_for_sharp_and_high_for_blurred_pictures() -> None:
    sharp = photo(320, 240, seed=3)
    assert blur_measure(sharp) < 0.6 < 0.75 < blur_measure(sharp.filter(ImageFilter.GaussianBlur(5)))
    assert blur_measure(Image.new("RGB", (64, 64), (9, 9, 9))) == 1.0  # flat: nothing to lose


def blurry_ones(images: list[Image.Image]) -> list[int]:
    paths = [Path(f"{i}.png") for i in range(len(images))]
    findings, notes = stat_findings(paths, [stats_of(img) for img in images])
    assert not notes
    return [int(f.path.stem) for f in findings if f.kind == "blurry"]


def test_edge_width_is_that_of_the_sharpest_edges_in_pixels() -> None:
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1
    assert edge_width(step) == 1.0
    for sigma in (2, 4):  # a step blurred by a Gaussian of σ px: about 2.5 σ wide
        soft = Image.fromarray((255 * step).astype(np.uint8)).filter(ImageFilter.GaussianBlur(sigma))
        assert 2.2 * sigma < edge_width(np.asarray(soft, np.float32) / 255) < 2.7 * sigma
    assert edge_width(np.full((64, 64), 0.5, np.float32)) == 0.0  # no edge: nothing to say
    # a step between two gentle ramps rising the same way is one pixel wide: the ramps are not the step
    ramps = np.concatenate([np.linspace(0.2, 0.5, 60), np.linspace(0.9, 1.0, 60)]).astype(np.float32)
    assert edge_width(np.tile(ramps, (40, 1))) == 1.0


def test_a_sharp_subject_before_a_soft_background_is_not_blurry() -> None:
    background = photo(256, 176, seed=99).filter(ImageFilter.GaussianBlur(12))
    subject = background.copy()
    ImageDraw.Draw(subject).ellipse((110, 70, 140, 100), fill=(30, 60, 200))
    assert blurry_ones([*ordinary(), subject]) == []
    assert blurry_ones([*ordinary(), background]) == [12]  # the same without it is blurred as a whole


def test_in_a_folder_of_soft_pictures_only_the_blurred_one_is_blurry() -> None:
    # photos enlarged 8× (soft to begin with, as CIFAR-10 enlarged is): their sharpest edges are about
    # 3–4 px wide, past the 3-px line; the folder's own median sets the line higher
    soft = [p.resize((p.width // 8, p.height // 8), Image.Resampling.BOX).resize(p.size) for p in ordinary()]
    assert all(stats_of(p).edge_width > 2.9 for p in soft[:10])
    assert blurry_ones(soft) == []
    assert blurry_ones([*soft[1:], soft[0].filter(ImageFilter.GaussianBlur(6))]) == [11]


def test_a_slightly_soft_picture_among_sharp_ones_is_not_blurry() -> None:
    softer = photo(256, 176, seed=99).filter(ImageFilter.GaussianBlur(1.5))
    assert 1.5 < stats_of(softer).edge_width < 3  # past the sharp folder's spread, not the 3-px line
    assert blurry_ones([*ordinary(), softer]) == []


def test_a_crisp_drawing_among_soft_photos_is_unlike_the_folders_pictures() -> None:
    from PIL import ImageDraw

    soft = [img.filter(ImageFilter.GaussianBlur(2)) for img in ordinary(14)]
    chart = Image.new("RGB", (256, 176), "white")
    draw = ImageDraw.Draw(chart)
    for i in range(8):
        draw.rectangle((16 + 28 * i, 170 - 15 * i, 36 + 28 * i, 170), fill=(40, 90, 200))
    images = [*soft, chart]
    paths = [Path(f"{i}.png") for i in range(len(images))]
    stats = [stats_of(img) for img in images]
    found = stat_outliers(paths, stats)
    assert [f.path for f in found] == [paths[-1]]
    assert (
        found[0].evidence["test"].startswith("unlike the folder's pictures")
        and found[0].evidence["distance"] > 6
    )
    assert stat_outliers(paths, stats, explained={paths[-1]}) == []
    assert stat_outliers(paths[:-1], stats[:-1]) == []  # the soft photos alone: nothing stands out


@pytest.mark.parametrize("size", [1, 2, 7, 1024, 65536])
def test_percentiles_are_numpys_linear_percentiles(size: int) -> None:
    values = np.random.default_rng(size).random(size, dtype=np.float32)
    qs = (0, 1, 5, 50, 99, 100)
    assert percentiles(values, qs) == pytest.approx(np.percentile(values, qs).tolist(), abs=1e-6)


def test_pictures_measured_in_a_stack_get_what_each_gets_alone() -> None:
    """Pictures of one size are measured as one stack: no edge runs from one picture into the next, no
    percentile mixes their pixels, and a flat, a dark or a grey picture among photos keeps its own
    measures; pictures of other sizes come back in their place."""
    rng = np.random.default_rng(3)
    step = np.zeros((32, 32, 3), np.uint8)
    step[:, 16:] = 255
    pictures = [
        photo(32, 32, seed=1),
        Image.new("RGB", (32, 32), (200, 200, 200)),
        Image.fromarray(step),
        photo(32, 32, seed=2).filter(ImageFilter.GaussianBlur(2)),
        ImageEnhance.Brightness(photo(32, 32, seed=3)).enhance(0.1),
        photo(32, 32, seed=4).convert("L").convert("RGB"),
        photo(200, 120, seed=5),
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)),
        photo(32, 32, seed=6).resize((9, 5)),
        Image.new("RGB", (1, 7), (10, 20, 30)),
        photo(200, 120, seed=7),
    ]
    sizes = [(p.width * 2, p.height * 2) for p in pictures]
    assert measure_many(pictures, sizes) == [measure(p, s) for p, s in zip(pictures, sizes, strict=True)]
    alone = [measure(p, s) for p, s in zip(pictures, sizes, strict=True)]
    assert alone[1].edge_width == 0.0 and alone[2].edge_width == 1.0  # (flat; a one-pixel step)
    assert alone[5].saturation < 0.03 < alone[0].saturation
