"""Near-duplicate groups: every kind of variant found, look-alikes kept apart, the keeper policy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dedup_support import KINDS, duplicates_tree, make_variant, pattern
from lookalike.dedup import (
    STRICTNESS,
    DedupResult,
    find_duplicates,
    verify_pair,
)
from lookalike.errors import LookalikeError
from lookalike.forked import forked_map, processes_for
from shared_data import CIFAR as SHARED_TRAIN
from shared_data import WEIGHTS as SHARED_WEIGHTS
from shared_data import needs_shared

# ----------------------------------------------------------------------------------------------------------
# CIFAR-10: every kind of variant, among distinct images of the same classes


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, Path], dict[Path, str]]:
    """150 CIFAR-10 images (15 per class) and 10 variants, 2 of each kind, each of another original.
    Returns the folder, variant → original, and variant → kind."""
    if not SHARED_TRAIN.is_dir():
        pytest.skip("needs ../shared/datasets/cifar10/train")
    folder = tmp_path_factory.mktemp("cifar")
    originals = []
    for cls in sorted(p.name for p in SHARED_TRAIN.iterdir()):
        for name in sorted((SHARED_TRAIN / cls).iterdir())[100:115]:
            dst = folder / cls / name.name
            dst.parent.mkdir(exist_ok=True)
            shutil.copyfile(name, dst)
            originals.append(dst)
    source: dict[Path, Path] = {}
    kind: dict[Path, str] = {}
    for j, k in enumerate(KINDS * 2):
        src = originals[j * 13 + 5]  # spread over the classes
        dst = folder / "variants" / f"v{j}-{k}.{'jpg' if k in ('copy', 'jpeg') else 'png'}"
        dst.parent.mkdir(exist_ok=True)
        make_variant(src, k, dst)
        source[dst], kind[dst] = src, k
    return folder, source, kind


@pytest.fixture(scope="module")
def cifar_result(cifar: tuple[Path, dict[Path, Path], dict[Path, str]]) -> DedupResult:
    return find_duplicates(cifar[0])


@needs_shared
def test_every_variant_kind_joins_its_original(
    cifar: tuple[Path, dict[Path, Path], dict[Path, str]], cifar_result: DedupResult
) -> None:
    _, source, kind = cifar
    expected_hint = {"copy": "exact", "jpeg": "near-identical", "resize": "resized", "flip": "mirrored"}
    for variant, original in source.items():
        group = cifar_result.group_of(variant)
        assert group is not None, f"{kind[variant]} variant {variant.name} was not grouped"
        assert set(group.paths) == {variant, original}, kind[variant]
        member = next(m for m in group.members if m.path == variant)
        if kind[variant] == "crop":
            assert "cropped" in member.hints and group.keeper == original  # the original has more pixels
        elif kind[variant] != "flip":  # a flip has the same pixel count: the bigger file keeps
            assert member.kind == expected_hint[kind[variant]]
            assert group.keeper == original
        else:
            assert {m.kind for m in group.members} == {"keeper", "mirrored"}


@needs_shared
def test_distinct_images_of_a_class_stay_apart(
    cifar: tuple[Path, dict[Path, Path], dict[Path, str]], cifar_result: DedupResult
) -> None:
    _, source, _ = cifar
    assert len(cifar_result.groups) == len(source)  # one group per planted variant, nothing else
    assert cifar_result.images == 160 and cifar_result.duplicates == len(source)
    # the closest distinct pair of one class by the 8×8 candidate search is still rejected
    folder = cifar[0] / "cat"
    files = sorted(folder.iterdir())
    checks = [verify_pair(files[0], f) for f in files[1:]]
    best = max(checks, key=lambda c: c.ncc)
    assert not best.duplicate


@needs_shared
def test_the_coarse_check_in_small_parts_finds_the_same_groups(
    cifar: tuple[Path, dict[Path, Path], dict[Path, str]],
    cifar_result: DedupResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large folder's candidates are coarse-checked part by part (bounded memory): a pair whose
    candidates fall in different parts is judged as if they came together."""
    import lookalike.dedup.judge as judge_module

    monkeypatch.setattr(judge_module, "COARSE_ROWS", 7)
    parted = find_duplicates(cifar[0])
    assert parted.stats["pixel_candidates"] > 7 * 20  # many parts
    assert [g.paths for g in parted.groups] == [g.paths for g in cifar_result.groups]
    assert [[m.kind for m in g.members] for g in parted.groups] == [
        [m.kind for m in g.members] for g in cifar_result.groups
    ]


@needs_shared
@pytest.mark.skipif(not processes_for(10**6, 1), reason="forks on Linux with two cores or more")
def test_files_read_and_pairs_checked_in_forked_workers_make_the_same_groups(
    cifar: tuple[Path, dict[Path, Path], dict[Path, str]], cifar_result: DedupResult
) -> None:
    """Many small files are read, many candidates coarse-checked, many pairs of small images checked and
    many keepers' files weighed in forked processes: the groups, relations, scores and keepers are those
    of the work done in one process."""
    import lookalike.dedup.find as find_module
    import lookalike.dedup.groups as groups_module
    import lookalike.dedup.judge as judge_module
    import lookalike.dedup.reading as reading_module

    forked: list[int] = []

    def counted(fn: object, items: list[object], **settings: int) -> object:
        forked.append(len(items))
        return forked_map(fn, items, **settings)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:  # (fork for any number of files and pairs)
        patch.setattr(reading_module, "FORK_LEAST", 1)
        patch.setattr(find_module, "FORK_PAIRS", 1)
        patch.setattr(judge_module, "COARSE_ROWS", 256)
        for module in (reading_module, judge_module, find_module, groups_module):
            patch.setattr(module, "forked_map", counted)
        again = find_duplicates(cifar[0])
    share = judge_module.FORKED_SHARE * len(os.sched_getaffinity(0))
    parts = -(-cifar_result.stats["pixel_candidates"] // (256 // share))
    members = sum(len(g.members) for g in cifar_result.groups)
    # every file (in batches), the candidates in parts of 256 shared among the cores (a share in each
    # worker), every pair that passed coarse, every file of a group (its quality, for the keeper)
    batches = -(-160 // reading_module.BATCH)
    assert forked == [batches, parts, cifar_result.stats["coarse_passed"], members]
    assert [g.to_dict() for g in again.groups] == [g.to_dict() for g in cifar_result.groups]


@needs_shared
def test_precomputed_vectors_only_add_candidates(
    cifar: tuple[Path, dict[Path, Path], dict[Path, str]], cifar_result: DedupResult
) -> None:
    """The index seam: one vector per listed path; feature candidates are verified on pixels like the rest."""
    folder = cifar[0]
    vectors = torch.randn(cifar_result.images, 16, generator=torch.Generator().manual_seed(0))
    reused = find_duplicates(folder, vectors=vectors)
    assert reused.stats["feature_candidates"] > 0 and reused.stats["feature_only_candidates"] > 0
    assert [g.paths for g in reused.groups] == [g.paths for g in cifar_result.groups]
    with pytest.raises(LookalikeError, match="one row per path"):
        find_duplicates(folder, vectors=vectors[:-1])


@needs_shared
def test_an_embedder_supplies_feature_candidates(tmp_path: Path) -> None:
    from lookalike.features import Embedder

    photos = duplicates_tree(tmp_path)
    embedder = Embedder(SHARED_WEIGHTS, device="cpu", precision="float32")
    result = find_duplicates(photos, embedder=embedder)
    assert result.settings["features"] and result.stats["feature_candidates"] > 0
    assert [g.paths for g in result.groups] == [g.paths for g in find_duplicates(photos).groups]


# ----------------------------------------------------------------------------------------------------------
# The pixel check on generated pictures


def test_halved_contrast_is_another_picture(tmp_path: Path) -> None:
    """Tone edits of about 15% are forgiven (tests/dedup/test_photometric.py); halving the contrast is not."""
    base = pattern(1)
    base.save(tmp_path / "a.png")
    # the same structure (NCC 1.0 after centring), but darker and flatter: another picture
    arr = np.asarray(base, dtype=np.float32)
    Image.fromarray((arr * 0.5 + 20).astype(np.uint8)).save(tmp_path / "dark.png")
    check = verify_pair(tmp_path / "a.png", tmp_path / "dark.png")
    assert check.ncc > 0.99 and check.rmse > STRICTNESS["normal"].max_rmse and not check.duplicate
    # flat pictures: NCC is undefined, the RMSE decides
    Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "red.png")
    Image.new("RGB", (80, 80), (200, 30, 30)).save(tmp_path / "red-big.png")
    Image.new("RGB", (40, 40), (30, 30, 200)).save(tmp_path / "blue.png")
    result = find_duplicates(tmp_path)
    assert [sorted(p.name for p in g.paths) for g in result.groups] == [["red-big.png", "red.png"]]
    assert result.groups[0].keeper.name == "red-big.png"


def test_flips_turns_and_crops_can_be_switched_off(tmp_path: Path) -> None:
    img = pattern(2)
    img.save(tmp_path / "a.png")
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "a-flip.png")
    pattern(3).save(tmp_path / "b.png")
    pattern(3).crop((5, 4, 96, 96)).save(tmp_path / "b-crop.png")  # 91×92 of 96×96: 90.8% of the area
    pattern(4, (96, 64)).save(tmp_path / "c.png")
    pattern(4, (96, 64)).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "c-turned.png")
    os.utime(tmp_path / "c.png", (1_600_000_000, 1_600_000_000))  # the original is the older file
    assert len(find_duplicates(tmp_path).groups) == 3
    assert sorted(g.keeper.name for g in find_duplicates(tmp_path, flips=False).groups) == ["b.png", "c.png"]
    no_crops = find_duplicates(tmp_path, crops=False).groups
    assert sorted(g.keeper.name for g in no_crops) == ["a-flip.png", "c.png"]
    no_turns = find_duplicates(tmp_path, rotations=False).groups
    assert sorted(g.keeper.name for g in no_turns) == ["a-flip.png", "b.png"]


def _blend(u: np.ndarray, v: np.ndarray, degrees: float) -> Image.Image:
    t = np.radians(degrees)
    arr = 128 + 60 * (np.cos(t) * u + np.sin(t) * v)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def test_chains_do_not_merge_into_one_group(tmp_path: Path) -> None:
    """A ≈ B and B ≈ C, but A and C differ: B never joins both (and, halfway between them, neither)."""
    rng = np.random.default_rng(0)
    fields = []
    for _ in range(2):
        f = np.asarray(
            Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize(
                (96, 96), Image.Resampling.BICUBIC
            ),
            dtype=np.float64,
        )
        f -= f.mean()
        fields.append(f)
    u = fields[0] / np.sqrt((fields[0] ** 2).mean())
    v = fields[1] - (fields[1] * u).mean() * u  # orthogonal to u
    v /= np.sqrt((v**2).mean())
    for name, degrees in (("a", 0.0), ("b", 16.0), ("c", 32.0)):
        _blend(u / 3, v / 3, degrees).save(tmp_path / f"{name}.png")
    ab, bc = (
        verify_pair(tmp_path / "a.png", tmp_path / "b.png"),
        verify_pair(tmp_path / "b.png", tmp_path / "c.png"),
    )
    ac = verify_pair(tmp_path / "a.png", tmp_path / "c.png")
    assert ab.duplicate and bc.duplicate and ac.ncc < 0.90  # the premise: a chain
    result = find_duplicates(tmp_path)
    assert all(len(g.members) == 2 for g in result.groups)  # never a, b and c together
    # b lies halfway between two distinct pictures: it shows neither more than the other, so it is put
    # with neither (grouping.keeper_first_groups: a file that cannot tell two keepers apart joins none)
    assert result.groups == []


def test_keep_largest_is_most_pixels_then_largest_file_then_oldest(tmp_path: Path) -> None:
    now = 1_700_000_000
    # pixels beat bytes: the big picture is a small JPEG, the small one a large PNG
    pattern(10, (128, 128)).save(tmp_path / "p-big.jpg", quality=40)
    pattern(10, (64, 64)).save(tmp_path / "p-small.png")
    assert (tmp_path / "p-big.jpg").stat().st_size < (tmp_path / "p-small.png").stat().st_size
    # same pixels: bytes beat age (the larger file is the newer one)
    pattern(11).save(tmp_path / "b-large.jpg", quality=95)
    pattern(11).save(tmp_path / "b-small.jpg", quality=70)
    os.utime(tmp_path / "b-large.jpg", (now, now))
    os.utime(tmp_path / "b-small.jpg", (now - 1000, now - 1000))
    # same pixels and bytes: the oldest wins, whatever its name
    pattern(12).save(tmp_path / "m-new.png")
    shutil.copyfile(tmp_path / "m-new.png", tmp_path / "z-old.png")
    os.utime(tmp_path / "m-new.png", (now, now))
    os.utime(tmp_path / "z-old.png", (now - 1000, now - 1000))
    # all equal: the path decides
    pattern(13).save(tmp_path / "t-b.png")
    shutil.copyfile(tmp_path / "t-b.png", tmp_path / "t-a.png")
    for name in ("t-a.png", "t-b.png"):
        os.utime(tmp_path / name, (now, now))
    result = find_duplicates(tmp_path, keep="largest")
    keepers = sorted(g.keeper.name for g in result.groups)
    assert keepers == ["b-large.jpg", "p-big.jpg", "t-a.png", "z-old.png"]
    for g in result.groups:
        assert g.members[0].keeper and not any(m.keeper for m in g.duplicates)
        assert g.kept_because


def test_the_best_copy_keeps_by_default_and_says_why(tmp_path: Path) -> None:
    """A JPEG at quality 30 has more bytes than the PNG it was made from: the PNG stays all the same."""
    img = pattern(14, (400, 300))
    img.save(tmp_path / "original.png")
    img.save(tmp_path / "copy.jpg", quality=30)
    now = 1_700_000_000
    os.utime(tmp_path / "original.png", (now, now))
    os.utime(tmp_path / "copy.jpg", (now - 1000, now - 1000))  # the copy even looks older
    (group,) = find_duplicates(tmp_path).groups
    assert group.keeper.name == "original.png"
    assert "lossless PNG" in group.kept_because
    assert group.to_dict()["kept_because"] == group.kept_because
    # the old rule is one option away
    (group,) = find_duplicates(tmp_path, keep="oldest").groups
    assert group.keeper.name == "copy.jpg"
    with pytest.raises(LookalikeError, match="biggest"):
        find_duplicates(tmp_path, keep="biggest")


def test_unreadable_files_are_listed_not_fatal(tmp_path: Path) -> None:
    pattern(20).save(tmp_path / "a.png")
    pattern(20).save(tmp_path / "b-copy.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    pattern(21).save(tmp_path / "z.png")
    result = find_duplicates(tmp_path)
    assert len(result.groups) == 1 and result.images == 3
    assert sorted(p.name for p, _ in result.failures) == ["empty.jpg", "text.jpg"]
    assert all(p.name in reason for p, reason in result.failures)
    # vectors are given for every listed file; the rows of unreadable ones are dropped with them
    vectors = torch.zeros(5, 2)
    vectors[[0, 1]] = torch.tensor([1.0, 0.0])  # a.png and b-copy.png
    vectors[[2, 3, 4]] = torch.tensor([0.0, 1.0])
    again = find_duplicates(tmp_path, vectors=vectors, neighbours=1)
    assert [g.paths for g in again.groups] == [g.paths for g in result.groups]


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(LookalikeError, match="min_ncc"):
        find_duplicates(tmp_path, min_ncc=1.5)
    with pytest.raises(LookalikeError, match="neighbours"):
        find_duplicates(tmp_path, neighbours=0)
    with pytest.raises(LookalikeError, match="no such"):
        find_duplicates(tmp_path / "missing")


def test_the_relation_says_how_the_keeper_turns_into_the_copy(tmp_path: Path) -> None:
    from PIL import ImageDraw

    from lookalike.dedup import Orientation, verify_pair

    img = Image.new("RGB", (240, 160), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 10, 100, 60), fill="red")
    draw.ellipse((150, 90, 230, 150), fill="blue")
    original = tmp_path / "a.png"
    img.save(original)
    os.utime(original, (1_600_000_000, 1_600_000_000))  # the older file keeps
    img.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.png")  # Pillow: counter-clockwise
    img.transpose(Image.Transpose.TRANSVERSE).save(tmp_path / "transverse.png")
    (group,) = find_duplicates(tmp_path).groups
    assert group.keeper == original
    by_name = {m.path.name: m for m in group.duplicates}
    assert by_name["turned.png"].kind == "rotated 90° counter-clockwise"
    assert by_name["turned.png"].orientation == Orientation(False, 1)
    # TRANSVERSE: mirrored, then turned 270° counter-clockwise (a reflection: the same both ways)
    assert by_name["transverse.png"].orientation == Orientation(True, 3)
    check = verify_pair(original, tmp_path / "turned.png").to_dict()
    assert check["relation"] == "rotated 90° counter-clockwise"
    assert check["orientation"] == {"mirror": False, "rotate": 90}
