"""The Embedder: every input kind, every weights kind, every precision, the same vectors."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from feature_support import (
    IMAGENET_MEAN,
    cifar_images,
    close,
    features_of,
    offline,
    photo,
    randomize_batchnorm,
)
from lookalike.errors import LookalikeError, WeightsError
from lookalike.features import Embedder
from lookalike.models import create_model, save_checkpoint
from shared_data import WEIGHTS, needs_shared


def test_path_pil_uint8_and_float_tensor_give_the_same_vector(tmp_path: Path) -> None:
    torch.manual_seed(0)
    emb = Embedder("none", model="resnet18", size=48, precision="float32", device="cpu")
    path = photo(tmp_path / "a.png", (80, 60))
    pil = Image.open(path).convert("RGB")
    u8 = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)
    v = emb.embed([path, pil, u8, u8.float() / 255])
    assert v.shape == (4, 512)
    assert torch.equal(v[0], v[1]) and torch.equal(v[1], v[2])  # the same uint8 pixels, the same path
    # a float image is resized in float (no rounding to uint8 in between): equal to resampling precision
    assert torch.nn.functional.cosine_similarity(v[2], v[3], dim=0) > 0.999
    # without resampling (the shorter side already at the resize size) it is the very same vector
    assert emb.info.resize_size == 55
    small = u8[:, :55, :70]
    w = emb.embed([small, small.float() / 255])
    assert close(w[0], w[1], 1e-5)


def test_grey_tensors_and_bad_tensor_shapes(cifar_embedder: Embedder) -> None:
    grey = torch.randint(0, 256, (1, 32, 32), dtype=torch.uint8)
    v = cifar_embedder.embed([grey, grey.expand(3, -1, -1)])
    assert torch.equal(v[0], v[1])
    with pytest.raises(LookalikeError, match=r"C×H×W with 1 or 3 channels, got \(4, 32, 32\)"):
        cifar_embedder.embed([torch.zeros(4, 32, 32)])
    with pytest.raises(LookalikeError, match=r"N×3×H×W, got \(3, 32, 32\)"):
        cifar_embedder.embed_batch(torch.zeros(3, 32, 32))


@pytest.mark.parametrize(
    ("name", "dim"),
    [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048), ("resnet101", 2048), ("resnet152", 2048)],
)
def test_vector_length_follows_the_depth(name: str, dim: int) -> None:
    emb = Embedder("none", model=name, size=32, device="cpu", precision="float32")
    assert emb.dim == dim and emb.describe()["dim"] == dim
    v = emb.embed([torch.rand(3, 40, 40)])
    assert v.shape == (1, dim) and v.dtype == torch.float32 and torch.isfinite(v).all()


# ---------------------------------------------------------------------------------------- preprocessing


def _saved(tmp_path: Path, net: nn.Module, variant: str) -> tuple[Path, dict[str, torch.Tensor]]:
    """``net``'s weights written the way ``variant`` says; also the state those weights load as."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    path = tmp_path / f"{variant}.pt"
    if variant == "lookalike-checkpoint":
        save_checkpoint(path, net, create_model("resnet18", num_classes=10, cifar_stem=True).lookalike_info)
        return path, state
    if variant in ("float16", "bfloat16"):
        dtype = getattr(torch, variant)
        state = {k: v.to(dtype).float() if v.is_floating_point() else v for k, v in state.items()}
        torch.save({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, path)
        return path, state
    saved = dict(state)
    if variant == "without-fc":
        saved = {k: v for k, v in saved.items() if not k.startswith("fc.")}
    if variant == "module-prefix":
        saved = {f"module.{k}": v for k, v in saved.items()}
    torch.save(saved, path)
    return path, state


@pytest.mark.parametrize(
    "variant", ["float32", "without-fc", "float16", "bfloat16", "module-prefix", "lookalike-checkpoint"]
)
def test_weight_files_load_and_give_the_source_models_vectors(
    tmp_path: Path, cifar_source: nn.Module, variant: str
) -> None:
    path, state = _saved(tmp_path, cifar_source, variant)
    emb = Embedder(str(path), device="cpu", precision="float32")
    assert (emb.info.arch, emb.info.cifar_stem, emb.info.crop_size) == ("resnet18", True, 32)
    assert emb.info.fingerprint.startswith("sha256:")
    reference = create_model("resnet18", num_classes=10, cifar_stem=True)
    reference.load_state_dict(state)
    x = torch.randn(3, 3, 32, 32)
    assert close(emb.embed_batch(x), features_of(reference, x))


def test_imagenet_stem_file_gives_the_source_models_vectors(tmp_path: Path) -> None:
    torch.manual_seed(2)
    source = randomize_batchnorm(create_model("resnet18", num_classes=1000))
    path = tmp_path / "imagenet-stem.pth"
    torch.save({f"module.{k}": v.to(torch.bfloat16) for k, v in source.state_dict().items()}, path)
    emb = Embedder(str(path), device="cpu", precision="float32", size=64)
    assert (emb.info.cifar_stem, emb.info.crop_size, emb.info.mean) == (False, 64, IMAGENET_MEAN)
    source.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in source.state_dict().items()})
    x = torch.randn(2, 3, 64, 64)
    assert close(emb.embed_batch(x), features_of(source, x))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("truncated", "truncated"),
        ("pickled-module", "pickled Python objects"),
        ("not-a-resnet", "not a torchvision ResNet"),
        ("resnet50-as-resnet18", "resnet50 but model resnet18"),
    ],
)
def test_wrong_weights_are_one_clear_line(tmp_path: Path, make: str, message: str) -> None:
    path = tmp_path / "w.pt"
    if make == "truncated":
        torch.save(create_model("resnet18", num_classes=2, cifar_stem=True).state_dict(), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif make == "pickled-module":
        torch.save(nn.Sequential(nn.Conv2d(3, 4, 3)), path)
    elif make == "not-a-resnet":
        torch.save(nn.Linear(3, 4).state_dict(), path)
    else:
        with torch.device("meta"):
            shapes = create_model("resnet50", num_classes=0).state_dict()
        torch.save(
            {
                k: torch.zeros(v.shape, dtype=torch.bfloat16 if v.is_floating_point() else v.dtype)
                for k, v in shapes.items()
            },
            path,
        )
    with pytest.raises(WeightsError, match=message) as err:
        Embedder(str(path), model="resnet18" if make == "resnet50-as-resnet18" else None, device="cpu")
    assert "\n" not in str(err.value)


def test_offline_imagenet_request_fails_fast_naming_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    emb = Embedder("IMAGENET1K_V1", device="cpu")  # metadata only: no download yet
    started = time.perf_counter()
    with pytest.raises(WeightsError, match="offline, pass a local weights file as `weights`") as err:
        emb.embed([torch.rand(3, 64, 64)])
    assert time.perf_counter() - started < 10
    assert "\n" not in str(err.value)


def test_random_weights_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emb = Embedder("none", model="resnet34", size=32, device="cpu")
    assert emb.info.source == "random" and emb.describe()["fingerprint"] == "random"
    # a default or named request never falls back to random weights, nor does a missing file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError):
        Embedder(device="cpu").embed([torch.rand(3, 32, 32)])
    with pytest.raises(WeightsError, match="not found"):
        Embedder(str(tmp_path / "missing.pt"), device="cpu")


# ------------------------------------------------------------------------------------- batches and files


def test_a_batch_gives_the_vectors_of_one_by_one(tmp_path: Path, cifar_embedder: Embedder) -> None:
    paths = [photo(tmp_path / f"{i}.jpg", (40 + 8 * i, 36), seed=i) for i in range(7)]
    together = cifar_embedder.embed(paths)  # batches of 4, the last one short
    alone = torch.cat([cifar_embedder.embed([p]) for p in paths])
    assert close(together, alone, 1e-5)
    tensors = torch.stack([cifar_embedder.preprocess(p) for p in paths])
    assert close(cifar_embedder.embed_batch(tensors), alone, 1e-5)


def test_bfloat16_runs_the_last_stage_in_float32() -> None:
    emb = Embedder("none", model="resnet18", size=32, device="cpu", precision="bfloat16")
    seen: dict[str, torch.dtype] = {}
    for name in ("layer3", "layer4"):
        getattr(emb.model, name).register_forward_hook(
            lambda m, i, o, name=name: seen.update({name: o.dtype})
        )
    v = emb.embed([torch.rand(3, 32, 32)])
    assert seen == {"layer3": torch.bfloat16, "layer4": torch.float32} and v.dtype == torch.float32


@needs_shared
@pytest.mark.slow
def test_bfloat16_keeps_top10_neighbours_of_float32() -> None:
    """Protocol: the shared ResNet-18 on the first 500 CIFAR-10 training images of ../shared (50 per
    class, classes interleaved); each image queries the other 499 by cosine similarity; the top-10 sets
    of bfloat16 and float32 must share ≥ 99 % of their members on average. (On 1,000 images the same
    policy measures 0.9917; see benchmarks/RESULTS.md.)"""
    paths = cifar_images(500)
    f32 = Embedder(str(WEIGHTS), device="cpu", precision="float32")
    bf16 = Embedder(str(WEIGHTS), device="cpu", precision="bfloat16", batch_size=100)
    x = torch.stack([f32.preprocess(p) for p in paths])
    a, b = f32.embed_batch(x), torch.cat([bf16.embed_batch(x[i : i + 100]) for i in range(0, 500, 100)])

    def top10(v: torch.Tensor) -> list[set[int]]:
        v = torch.nn.functional.normalize(v, dim=1)
        s = v @ v.T
        s.fill_diagonal_(-2)
        return [set(row.tolist()) for row in s.topk(10, dim=1).indices]

    overlap = np.mean([len(p & q) / 10 for p, q in zip(top10(a), top10(b), strict=True)])
    assert overlap >= 0.99
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.999


# ----------------------------------------------------------------------------------- the speed machinery


def test_channels_last_weights_and_inputs() -> None:
    cifar_embedder = Embedder("none", size=32, precision="float32", device="cpu", backend="torch")
    assert cifar_embedder.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    formats: list[bool] = []
    hook = cifar_embedder._runner.conv1.register_forward_pre_hook(
        lambda m, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    try:
        cifar_embedder.embed_batch(torch.randn(2, 3, 32, 32))
        cifar_embedder.embed([torch.rand(3, 32, 32)])
    finally:
        hook.remove()
    assert formats == [True, True]


def test_float32_runs_a_batchnorm_folded_copy_with_the_same_vectors() -> None:
    torch.manual_seed(3)
    emb = Embedder("none", model="resnet50", size=32, device="cpu", precision="float32", backend="torch")
    randomize_batchnorm(emb.model)
    runner = emb._runner
    assert not any(isinstance(m, nn.BatchNorm2d) for m in runner.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in emb.model.modules()) == 53  # the model stays as built
    x = torch.randn(2, 3, 32, 32)
    assert close(emb.embed_batch(x), features_of(emb.model, x))


def test_compile_is_used_for_full_batches_and_falls_back_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, dict[str, object]]] = []

    def fake_compile(fn: object, **kwargs: object) -> object:
        def run(x: torch.Tensor) -> torch.Tensor:
            seen.append((x.shape[0], kwargs))
            return fn(x)  # type: ignore[operator, no-any-return]

        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    torch.manual_seed(0)
    emb = Embedder("none", size=32, device="cpu", precision="float32", batch_size=2, backend="torch")
    paths = [photo(tmp_path / f"{i}.png", seed=i) for i in range(5)]
    eager = emb.embed(paths)
    assert seen == []  # not compiled unless asked
    emb.compile = True
    assert close(torch.cat([b.vectors for b in emb.iter_files(paths)]), eager, 1e-6)
    assert [n for n, _ in seen] == [2, 2]  # the full batches; the short last one runs eagerly
    assert seen[0][1] == {"dynamic": False, "options": {"freezing": True}}

    calls: list[int] = []

    def broken_compile(fn: object, **kwargs: object) -> object:
        def run(x: torch.Tensor) -> torch.Tensor:
            calls.append(x.shape[0])
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    emb._compiled = None  # as if new: compile on the first full batch
    with pytest.warns(UserWarning, match="torch.compile failed"):
        got = torch.cat([b.vectors for b in emb.iter_files(paths)])
    assert calls == [2] and emb.compile is False  # tried once, on a full batch; eager from then on
    assert close(got, eager, 1e-6)
