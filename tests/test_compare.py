"""The two-image report, and the lecture's point measured on real data: pixels fail, features work."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps

from lookalike.compare import compare, scores
from lookalike.errors import LookalikeError
from lookalike.features import Embedder
from lookalike.metrics import cosine, ncc
from shared_data import CIFAR, WEIGHTS, needs_shared


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder("none", model="resnet18", size=32, precision="float32")


def picture(tmp_path: Path, name: str, seed: int) -> Path:
    g = torch.Generator().manual_seed(seed)
    arr = torch.randint(0, 256, (48, 64, 3), generator=g, dtype=torch.uint8).numpy()
    path = tmp_path / name
    Image.fromarray(arr).save(path)
    return path


def test_an_image_against_itself_is_identical_in_both_spaces(tmp_path: Path, embedder: Embedder) -> None:
    a = picture(tmp_path, "a.png", 0)
    r = compare(a, a, embedder=embedder)
    assert r.pixels is not None and r.features is not None
    for space in (r.pixels, r.features):
        assert space["l1"] == 0 and space["mse"] == 0
        assert space["cosine"] == pytest.approx(1, abs=1e-6) and space["ncc"] == pytest.approx(1, abs=1e-6)


def test_pixel_column_is_the_networks_input(tmp_path: Path, embedder: Embedder) -> None:
    a, b = picture(tmp_path, "a.png", 1), picture(tmp_path, "b.png", 2)
    r = compare(a, b, embedder=embedder, space="pixels")
    x, y = embedder.preprocess(a), embedder.preprocess(b)
    assert x.shape == (3, 32, 32)
    assert r.pixels == scores(x, y)
    assert r.features is None


def test_feature_column_is_the_pooled_output(tmp_path: Path, embedder: Embedder) -> None:
    a, b = picture(tmp_path, "a.png", 3), picture(tmp_path, "b.png", 4)
    r = compare(a, b, embedder=embedder, space="features")
    f = embedder.embed([a, b])
    assert r.features == pytest.approx(scores(f[0], f[1]), rel=1e-5)
    assert r.pixels is None and r.to_dict()["input_size"] == [3, 32, 32]


def test_pixel_space_with_imagenet_weights_needs_no_download(tmp_path: Path) -> None:
    # only the weights' metadata (resize 256, crop 224, ImageNet mean/std) is needed, so this works offline
    a, b = picture(tmp_path, "a.png", 5), picture(tmp_path, "b.png", 6)
    r = compare(a, b, weights="IMAGENET1K_V1", space="pixels")
    assert r.input_size == 224 and r.weights == "torchvision:ResNet18_Weights.IMAGENET1K_V1"


def test_unknown_space_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    a = picture(tmp_path, "a.png", 7)
    with pytest.raises(LookalikeError, match="pixels, features or both"):
        compare(a, a, embedder=embedder, space="colour")  # type: ignore[arg-type]


@needs_shared
@pytest.mark.slow
def test_features_know_classes_and_flips_where_pixels_do_not() -> None:
    """The lecture's point on 200 random pairs of each kind from ../shared, with the shared ResNet-18."""
    emb = Embedder(WEIGHTS, precision="float32")
    rng = random.Random(0)
    classes = sorted(p.name for p in CIFAR.iterdir())
    files = {c: sorted((CIFAR / c).iterdir()) for c in classes}

    def pick(c: str) -> Path:
        return rng.choice(files[c])

    same, diff = [], []
    for _ in range(200):
        c, d = rng.sample(classes, 2)
        same.append((pick(c), pick(c)))
        diff.append((pick(c), pick(d)))

    def feature_scores(pairs: list[tuple[Path, Path]]) -> dict[str, float]:
        f = emb.embed([p for pair in pairs for p in pair])
        rows = [scores(f[2 * i], f[2 * i + 1]) for i in range(len(pairs))]
        return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}

    s, d = feature_scores(same), feature_scores(diff)
    assert s["cosine"] > d["cosine"] and s["ncc"] > d["ncc"]
    assert s["l1"] < d["l1"] and s["mse"] < d["mse"]

    originals = [pick(rng.choice(classes)) for _ in range(200)]
    images = [Image.open(p).convert("RGB") for p in originals]
    flipped = [ImageOps.mirror(im) for im in images]
    x = torch.stack([emb.preprocess(im) for im in images])
    y = torch.stack([emb.preprocess(im) for im in flipped])
    fx, fy = emb.embed_batch(x), emb.embed_batch(y)
    feature_cos = torch.stack([cosine(fx[i], fy[i]) for i in range(200)]).mean().item()
    pixel_cos = torch.stack([cosine(x[i], y[i]) for i in range(200)]).mean().item()
    pixel_ncc = torch.stack([ncc(x[i], y[i]) for i in range(200)]).mean().item()
    assert feature_cos >= 0.95
    assert pixel_cos < 0.7 and pixel_ncc < 0.7  # about 0.56: a mirrored copy looks far apart in pixels


def test_an_animation_is_compared_by_its_first_frame_and_the_result_says_so(tmp_path: Path) -> None:
    red, blue = Image.new("RGB", (32, 32), (220, 20, 20)), Image.new("RGB", (32, 32), (20, 20, 220))
    anim, still = tmp_path / "anim.gif", tmp_path / "still.png"
    green = Image.new("RGB", (32, 32), (20, 220, 20))
    red.save(anim, save_all=True, append_images=[blue, green], duration=100)
    red.save(still)
    result = compare(anim, still, space="pixels", weights="IMAGENET1K_V1")
    assert result.notes == (f"{anim}: 3 frames, the first compared",)
    assert result.to_dict()["notes"] == list(result.notes)
    assert result.pixels is not None and result.pixels["cosine"] > 0.99  # red against red, not blue
    assert compare(still, still, space="pixels", weights="IMAGENET1K_V1").notes == ()


@needs_shared
def test_the_first_comparison_scores_as_the_cached_ones_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh cache exports the model on the first comparison; that run takes the path the cached ones take
    (NumPy preprocessing, ONNX Runtime), so its scores are the next runs' to the last digit."""
    monkeypatch.setenv("LOOKALIKE_CACHE", str(tmp_path / "cache"))
    a, b = picture(tmp_path, "a.png", 7), picture(tmp_path, "b.png", 8)
    first = compare(a, b, weights=WEIGHTS, device="cpu")
    second = compare(a, b, weights=WEIGHTS, device="cpu")
    assert (first.backend, first.precision) == (second.backend, second.precision) == ("onnx", "float32")
    assert first.features == second.features and first.pixels == second.pixels


def test_a_model_card_is_honoured_by_the_cached_torch_free_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second comparison finds the ONNX export by the weights' fingerprint; a card beside the weights
    changes the preprocessing, so it must change what is found (never the card-less export)."""
    import json

    from lookalike.errors import WeightsError
    from lookalike.models import create_model

    monkeypatch.setenv("LOOKALIKE_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "r18.pt"
    torch.save(create_model("resnet18", num_classes=10, cifar_stem=True).state_dict(), weights)
    a, b = picture(tmp_path, "a.png", 9), picture(tmp_path, "b.png", 10)
    plain = [compare(a, b, weights=weights, device="cpu") for _ in range(2)]  # the second: cached export
    assert plain[0].backend == plain[1].backend == "onnx" and plain[0].pixels == plain[1].pixels
    weights.with_suffix(".json").write_text(json.dumps({"std": [0.1, 0.1, 0.1]}))
    carded = [compare(a, b, weights=weights, device="cpu") for _ in range(2)]
    assert carded[0].pixels == carded[1].pixels
    assert carded[1].pixels is not None and plain[1].pixels is not None
    assert carded[1].pixels["l1"] > 2 * plain[1].pixels["l1"]  # normalised by std 0.1, not ~0.25
    weights.with_suffix(".json").write_text("{broken")
    with pytest.raises(WeightsError, match="not a model card"):
        compare(a, b, weights=weights, device="cpu")
