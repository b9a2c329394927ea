"""Deep features: the Embedder's inputs, dimensions, preprocessing, weights, batching, bad files,
precision and speed machinery (BatchNorm folding, channels_last, compile fallback, device decoding)."""

from __future__ import annotations

import time
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import lookalike.features as features
from lookalike.errors import ImageError, LookalikeError, WeightsError
from lookalike.features import Embedder, resolve_precision
from lookalike.models import CIFAR10_MEAN, CIFAR10_STD, create_model, save_checkpoint
from shared_data import CIFAR, WEIGHTS, needs_shared

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def photo(path: Path, size: tuple[int, int] = (96, 64), seed: int = 0, quality: int = 95) -> Path:
    """A smooth, photo-like picture (gradients, a disc, fine noise) saved as ``path``."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r, g = 255 * xx / w, 255 * yy / h
    b = np.where(
        (xx - rng.uniform(0, w)) ** 2 + (yy - rng.uniform(0, h)) ** 2 < (min(w, h) / 3) ** 2, 220, 40
    )
    arr = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    img.save(path, quality=quality) if path.suffix == ".jpg" else img.save(path)
    return path


def cifar_images(n: int) -> list[Path]:
    """The first ``n`` CIFAR-10 training JPEGs of ../shared, classes interleaved."""
    per_class = [sorted(d.glob("*.jpg")) for d in sorted(CIFAR.iterdir()) if d.is_dir()]
    return [p for group in zip(*per_class, strict=False) for p in group][:n]


def randomize_batchnorm(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics, so that folding and loading them is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


def features_of(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the source network itself says: pooled features, float32, classifier removed."""
    head = net.fc
    net.fc = nn.Identity()
    try:
        with torch.inference_mode():
            return net.eval()(x)
    finally:
        net.fc = head


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    """Equal up to float rounding, relative to the vectors' scale."""
    return bool((a - b).abs().max() <= tol * max(1.0, float(b.abs().max())))


@pytest.fixture(scope="module")
def cifar_embedder() -> Embedder:
    torch.manual_seed(0)
    return Embedder("none", model="resnet18", size=32, precision="float32", device="cpu", batch_size=4)


# ------------------------------------------------------------------------------------------------ inputs


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


@needs_shared
def test_cifar_checkpoint_preprocesses_to_32_pixels_with_its_statistics() -> None:
    emb = Embedder(str(WEIGHTS), device="cpu")
    info = emb.info
    assert (info.arch, info.cifar_stem, info.crop_size, info.resize_size) == ("resnet18", True, 32, 32)
    assert (info.mean, info.std) == (CIFAR10_MEAN, CIFAR10_STD)
    path = cifar_images(1)[0]
    x = emb.preprocess(path)
    raw = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1).float() / 255
    expected = (raw - torch.tensor(CIFAR10_MEAN)[:, None, None]) / torch.tensor(CIFAR10_STD)[:, None, None]
    assert x.shape == (3, 32, 32) and close(x, expected, 1e-6)


@pytest.mark.parametrize(
    ("arch", "weights", "resize"), [("resnet18", "IMAGENET1K_V1", 256), ("resnet50", "IMAGENET1K_V2", 232)]
)
def test_torchvision_names_take_torchvisions_preprocessing_without_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arch: str, weights: str, resize: int
) -> None:
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _offline)  # metadata must not need it
    emb = Embedder(weights, model=arch, device="cpu")
    info = emb.info
    assert (info.crop_size, info.resize_size) == (224, resize)
    assert (info.mean, info.std) == (IMAGENET_MEAN, IMAGENET_STD)
    path = photo(tmp_path / "wide.png", (400, 300))
    x = emb.preprocess(path)
    assert x.shape == (3, 224, 224)
    # the same as resizing the shorter side to `resize` and cropping the centre by hand
    img = (
        Image.open(path).convert("RGB").resize((round(400 * resize / 300), resize), Image.Resampling.BILINEAR)
    )
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    crop = torch.from_numpy(np.asarray(img.crop((left, top, left + 224, top + 224))).copy()).permute(2, 0, 1)
    expected = (crop.float() / 255 - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[
        :, None, None
    ]
    assert (x - expected).abs().mean() < 0.02  # Pillow's and torch's resampling differ by rounding only


def test_jpeg_draft_mode_stops_at_twice_the_resize_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = Embedder("none", size=64, device="cpu", precision="float32")  # resize to 73, crop 64
    drafts: list[object] = []
    real = features.load_image

    def spy(path: Path, **kw: object) -> Image.Image:
        drafts.append(kw.get("draft"))
        return real(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(features, "load_image", spy)
    path = photo(tmp_path / "big.jpg", (1200, 900))
    emb.preprocess(path)
    list(emb.iter_files([path]))
    assert drafts == [(146, 146), (146, 146)]
    # so a 1200×900 JPEG decodes at 1/4 (300×225), not at 1/8 (150×112, which a 73-pixel resize allows)
    assert real(path, draft=(146, 146)).size == (300, 225)


def test_size_overrides_crop_and_scales_resize() -> None:
    emb = Embedder("none", model="resnet18", size=112, device="cpu")
    assert (emb.info.crop_size, emb.info.resize_size) == (112, 128)
    assert emb.preprocess(torch.rand(3, 300, 200)).shape == (3, 112, 112)
    with pytest.raises(LookalikeError, match="too small"):
        Embedder("none", size=4, device="cpu")


# ------------------------------------------------------------------------------------------------ weights


def _offline(*args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture(scope="module")
def cifar_source() -> nn.Module:
    torch.manual_seed(1)
    return randomize_batchnorm(create_model("resnet18", num_classes=10, cifar_stem=True))


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
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _offline)
    emb = Embedder("IMAGENET1K_V1", device="cpu")  # metadata only: no download yet
    started = time.perf_counter()
    with pytest.raises(WeightsError, match="--weights PATH") as err:
        emb.embed([torch.rand(3, 64, 64)])
    assert time.perf_counter() - started < 10
    assert "\n" not in str(err.value)


def test_random_weights_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emb = Embedder("none", model="resnet34", size=32, device="cpu")
    assert emb.info.source == "random" and emb.describe()["fingerprint"] == "random"
    # a default or named request never falls back to random weights, nor does a missing file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _offline)
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


def test_worker_processes_give_the_same_vectors(tmp_path: Path, cifar_embedder: Embedder) -> None:
    paths = [photo(tmp_path / f"{i}.jpg", (48, 40), seed=i) for i in range(10)]
    inline = list(cifar_embedder.iter_files(paths, num_workers=0))
    workers = list(cifar_embedder.iter_files(paths, num_workers=2))
    assert [b.indices for b in workers] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert close(torch.cat([b.vectors for b in inline]), torch.cat([b.vectors for b in workers]), 1e-6)


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = photo(tmp_path / "good.jpg", (64, 48))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    return {"truncated": truncated, "empty": empty, "text": text, "missing": tmp_path / "missing.jpg"}


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_files_become_failures_not_exceptions(
    tmp_path: Path, cifar_embedder: Embedder, workers: int
) -> None:
    bad = _bad_files(tmp_path)
    goods = [photo(tmp_path / f"ok{i}.jpg", (50, 40), seed=i) for i in range(3)]
    paths = [goods[0], bad["truncated"], bad["empty"], goods[1], bad["text"], bad["missing"], goods[2]]
    batches = list(cifar_embedder.iter_files(paths, num_workers=workers))
    indices = [i for b in batches for i in b.indices]
    failures = dict(f for b in batches for f in b.failures)
    assert indices == [0, 3, 6] and sorted(failures) == [1, 2, 4, 5]
    assert "truncated" in failures[1] and "empty" in failures[2] and "missing.jpg" in failures[5]
    assert all(b.vectors.shape == (len(b.indices), 512) for b in batches)
    expected = cifar_embedder.embed(goods)
    assert close(torch.cat([b.vectors for b in batches]), expected, 1e-6)


def test_embed_of_a_bad_path_raises_image_error(tmp_path: Path, cifar_embedder: Embedder) -> None:
    bad = _bad_files(tmp_path)
    for path in bad.values():
        with pytest.raises(ImageError, match=path.name):
            cifar_embedder.embed([photo(tmp_path / "fine.png"), path])
    assert cifar_embedder.embed([]).shape == (0, 512)


# ---------------------------------------------------------------------------------------------- precision


def test_precision_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "cpu_has_amx", lambda: False)
    assert resolve_precision("auto", "cpu") == "float32"  # bf16 without AMX is slower than float32
    monkeypatch.setattr(features, "cpu_has_amx", lambda: True)
    assert resolve_precision("auto", "cpu") == "bfloat16"
    assert resolve_precision("auto", "cuda") == "float16"
    assert resolve_precision("float32", "cpu") == "float32"  # on request, whatever the hardware
    assert Embedder("none", size=32, device="cpu", precision="float32").precision == "float32"
    with pytest.raises(LookalikeError, match="float16 is not supported on the CPU"):
        resolve_precision("float16", "cpu")
    with pytest.raises(LookalikeError, match="unknown precision"):
        resolve_precision("int8", "cpu")  # type: ignore[arg-type]


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


def test_defaults_by_device(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = Embedder("none", size=32, device="cpu")
    assert emb.batch_size == 64 and emb.device_decode is False and emb.compile is False
    monkeypatch.setattr(features.os, "cpu_count", lambda: 8)
    assert emb._default_workers() == 4


# ---------------------------------------------------------------------------------- decoding on the device


def test_device_jpeg_takes_only_ordinary_jpegs(tmp_path: Path) -> None:
    big = photo(tmp_path / "big.jpg", (320, 240), quality=98)
    assert big.stat().st_size >= features._DEVICE_DECODE_MIN_BYTES
    data = features._device_jpeg(big)
    assert data is not None and bytes(data.numpy()) == big.read_bytes()
    small = photo(tmp_path / "small.jpg", (32, 32))
    png = photo(tmp_path / "big.png", (320, 240))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(big.read_bytes()[:-100])
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(big).save(rotated, quality=98, exif=exif)
    cmyk = tmp_path / "cmyk.jpg"
    Image.open(big).convert("CMYK").save(cmyk, quality=98)
    for path in (small, png, cut, rotated, cmyk, tmp_path / "missing.jpg"):
        assert features._device_jpeg(path) is None, path.name


def test_device_decoding_matches_pillow_and_keeps_bad_files_apart(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pillow = Embedder("none", size=64, device="cpu", precision="float32", batch_size=4, device_decode=False)
    device = Embedder("none", size=64, device="cpu", precision="float32", batch_size=4, device_decode=True)
    device._model = pillow._model
    sizes = [(320, 240), (240, 320), (320, 240), (300, 200)]
    paths = [photo(tmp_path / f"{i}.jpg", sizes[i], seed=i, quality=98) for i in range(4)]
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(paths[0]).save(rotated, quality=98, exif=exif)
    bad = _bad_files(tmp_path)
    mixed = [paths[0], bad["truncated"], paths[1], rotated, paths[2], bad["text"], paths[3]]
    got = list(device.iter_files(mixed))
    want = list(pillow.iter_files(mixed))
    assert [b.indices for b in got] == [b.indices for b in want] == [[0, 2, 3], [4, 6]]
    assert [i for b in got for i, _ in b.failures] == [1, 5]
    a, b = torch.cat([b.vectors for b in got]), torch.cat([b.vectors for b in want])
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.995  # libjpeg full decode vs draft mode


def test_a_jpeg_the_device_cannot_decode_gets_a_second_chance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.io

    real = torchvision.io.decode_jpeg

    def picky(data: object, **kw: object) -> object:
        if isinstance(data, list):
            raise RuntimeError("batch failed")
        if bytes(data.numpy()[-64:]) == bytes(first[-64:]):  # type: ignore[attr-defined]
            raise RuntimeError("nvjpeg does not like this one")
        return real(data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(torchvision.io, "decode_jpeg", picky)
    torch.manual_seed(0)
    emb = Embedder("none", size=32, device="cpu", precision="float32", batch_size=4, device_decode=True)
    paths = [photo(tmp_path / f"{i}.jpg", (320, 240), seed=i, quality=98) for i in range(3)]
    first = paths[0].read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (batch,) = list(emb.iter_files(paths))
    assert batch.indices == [0, 1, 2] and not batch.failures
    assert close(batch.vectors[0], emb.embed([emb._pixels(paths[0])])[0], 1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_pipeline_matches_the_cpu(tmp_path: Path) -> None:
    paths = [photo(tmp_path / f"{i}.jpg", (320, 240), seed=i, quality=98) for i in range(20)]
    torch.manual_seed(0)
    cpu = Embedder("none", size=64, device="cpu", precision="float32")
    gpu = Embedder("none", size=64, device="cuda")
    gpu._model = create_model("resnet18", num_classes=0)
    gpu._model.load_state_dict(cpu.model.state_dict())
    assert gpu.precision == "float16" and gpu.device_decode and gpu.batch_size == 256
    a, b = cpu.embed(paths), gpu.embed(paths)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99
