"""The onnx backend: export with metadata, the cache (atomic, invalidated, self-repairing), the
Embedder's backend choice, and fidelity against PyTorch float32 (per-image cosine ≥ 0.9999)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from feature_support import cifar_images, photo, randomize_batchnorm
from lookalike.errors import LookalikeError, hint_for_cli
from lookalike.features import Embedder
from lookalike.features.onnx import (
    ModelFileError,
    OnnxModel,
    cached_path,
    ensure_model,
    export,
    write_atomic,
)
from lookalike.models import create_model, save_checkpoint
from shared_data import CIFAR, WEIGHTS, needs_shared


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def small() -> Embedder:
    """A random CIFAR-stem resnet18 with non-trivial BatchNorm, on the torch backend (the reference)."""
    torch.manual_seed(0)
    emb = Embedder("none", size=32, device="cpu", precision="float32", backend="torch")
    randomize_batchnorm(emb.model)
    return emb


def description(emb: Embedder, fingerprint: str = "sha256:test") -> dict[str, object]:
    return {**emb.describe(), "fingerprint": fingerprint}


# ---------------------------------------------------------------------------------- export and metadata


def test_export_records_the_preprocessing_for_any_reader(small: Embedder, tmp_path: Path) -> None:
    import onnx

    path = export(small.model, description(small), tmp_path / "m.onnx")
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert meta["crop_size"] == "32" and meta["resize_size"] == "37"  # 256/224 of the crop
    assert json.loads(meta["mean"]) == pytest.approx(list(small.info.mean))
    assert json.loads(meta["std"]) == pytest.approx(list(small.info.std))
    assert meta["interpolation"] == "bilinear" and "normalise" in meta["preprocessing"]
    own = json.loads(meta["lookalike"])
    assert own["format"] == "lookalike-onnx" and own["fingerprint"] == "sha256:test" and own["dim"] == 512
    model = OnnxModel(path)
    assert (model.dim, model.crop_size) == (512, 32)
    x = small.preprocess(torch.rand(3, 32, 32)).unsqueeze(0)
    out = model.run(np.concatenate([x.numpy()] * 3))  # the batch axis is free
    assert out.shape == (3, 512)
    assert cosines(out[:1], small.embed_batch(x).numpy()).min() >= 0.9999
    with pytest.raises(LookalikeError, match=r"expected a batch N×3×32×32"):
        model.run(np.zeros((1, 3, 64, 64), np.float32))


def test_embedder_onnx_backend_gives_the_torch_vectors(small: Embedder, tmp_path: Path) -> None:
    paths = [photo(tmp_path / f"{i}.jpg", (60 + 7 * i, 45), seed=i) for i in range(5)]
    fast = Embedder("none", size=32, device="cpu", precision="float32")
    fast._model = small._model  # the same random weights
    assert fast.backend == "onnx" and fast.describe()["backend"] == "onnx"
    assert cosines(fast.embed(paths).numpy(), small.embed(paths).numpy()).min() >= 0.9999


# ---------------------------------------------------------------------------------- the backend choice


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    import lookalike.features.devices as devices

    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert Embedder("none", size=32, device="cpu").backend == "onnx"  # auto on the CPU in float32
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)  # auto: bf16, which only torch runs
    bf16 = Embedder("none", size=32, device="cpu")
    assert (bf16.backend, bf16.precision) == ("torch", "bfloat16")
    assert Embedder("none", size=32, device="cpu", precision="float32").backend == "onnx"
    assert Embedder("none", size=32, device="cpu", backend="torch").backend == "torch"
    assert Embedder("none", size=32, device="cpu", compile=True).backend == "torch"
    assert Embedder("none", size=32, device="cpu", precision="bfloat16").backend == "torch"
    with pytest.raises(LookalikeError, match="the onnx backend computes in float32") as err:
        Embedder("none", size=32, device="cpu", precision="bfloat16", backend="onnx")
    flags = {"precision": "--precision", "backend": "--backend"}
    assert hint_for_cli(err.value.hint or "", flags) == "pass --precision float32 or --backend torch"
    with pytest.raises(LookalikeError, match="unknown backend 'tvm'"):
        Embedder("none", size=32, device="cpu", backend="tvm")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- the cache


def test_cache_is_reused_and_invalidated_when_the_weights_change(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = create_model("resnet18", num_classes=10, cifar_stem=True)
    weights = save_checkpoint(tmp_path / "w.pt", net, net.lookalike_info)  # type: ignore[arg-type]
    first = Embedder(str(weights), device="cpu", backend="onnx")
    x = torch.rand(1, 3, 32, 32)
    before = first.embed_batch(x)
    cache = cached_path(first.describe())
    assert cache.is_file() and cache.parent == Path(os.environ["LOOKALIKE_CACHE"]) / "onnx"
    stamp = cache.stat().st_mtime_ns
    again = Embedder(str(weights), device="cpu", backend="onnx")
    assert torch.equal(again.embed_batch(x), before) and cache.stat().st_mtime_ns == stamp  # reused

    torch.manual_seed(2)  # new weights in the same file: a new fingerprint, a new export
    net2 = create_model("resnet18", num_classes=10, cifar_stem=True)
    save_checkpoint(weights, net2, net2.lookalike_info)  # type: ignore[arg-type]
    changed = Embedder(str(weights), device="cpu", backend="onnx")
    assert cached_path(changed.describe()) != cache
    reference = Embedder(str(weights), device="cpu", backend="torch", precision="float32").embed_batch(x)
    assert cosines(changed.embed_batch(x).numpy(), reference.numpy()).min() >= 0.9999
    assert cosines(changed.embed_batch(x).numpy(), before.numpy()).min() < 0.99


def test_ensure_model_exports_once_then_loads(small: Embedder, tmp_path: Path) -> None:
    built: list[int] = []
    notices: list[str] = []

    def make() -> torch.nn.Module:
        built.append(1)
        return small.model

    path = tmp_path / "m.onnx"
    ensure_model(path, description(small), make, notice=notices.append)
    ensure_model(path, description(small), make, notice=notices.append)
    assert built == [1] and len(notices) == 1 and "exporting the model to ONNX once" in notices[0]
    other = ensure_model(path, description(small, "sha256:other"), make, notice=notices.append)
    assert built == [1, 1] and "made for other weights" in notices[1]
    assert other.description["fingerprint"] == "sha256:other"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_a_damaged_cached_file_is_rebuilt_with_one_line_of_notice(
    small: Embedder, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx

    path = export(small.model, description(small), tmp_path / "m.onnx")
    if damage == "garbage":
        path.write_bytes(b"not an onnx file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:  # a valid ONNX file that lookalike did not write
        proto = onnx.load(path)
        del proto.metadata_props[:]
        onnx.save(proto, path)
    with pytest.raises(ModelFileError):
        OnnxModel(path)
    model = ensure_model(path, description(small), lambda: small.model)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lookalike: ") and "exporting it again" in err
    assert str(path) in err or "was not exported by lookalike" in err
    x = small.preprocess(torch.rand(3, 32, 32)).unsqueeze(0)
    assert cosines(model.run(x.numpy()), small.embed_batch(x).numpy()).min() >= 0.9999


def test_atomic_write_keeps_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_atomic(tmp_path / "m.onnx", b"old")

    def crash(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


# ---------------------------------------------------------------------------------- fidelity (the issue's)


@needs_shared
@pytest.mark.slow
def test_fidelity_on_1000_cifar_images() -> None:
    """The torch-free path (Pillow + NumPy + ONNX Runtime) against PyTorch float32, per image."""
    paths = cifar_images(1000)
    reference = (
        Embedder(str(WEIGHTS), device="cpu", backend="torch", precision="float32").embed(paths).numpy()
    )
    onnx_embedder = Embedder(str(WEIGHTS), device="cpu", backend="onnx")
    assert cosines(onnx_embedder.embed(paths).numpy(), reference).min() >= 0.9999
    model = OnnxModel(cached_path(onnx_embedder.describe()))
    assert cosines(model.embed(paths), reference).min() >= 0.9999
    assert CIFAR.is_dir()


@pytest.mark.slow
def test_fidelity_on_sample_photos_at_224_pixels(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    from lookalike.samples import write_samples

    paths = write_samples(tmp_path / "samples")
    torch.manual_seed(0)
    # ImageNet stem, 224 px, random weights
    reference = Embedder("none", device="cpu", backend="torch", precision="float32")
    assert reference.info.crop_size == 224 and not reference.info.cifar_stem
    randomize_batchnorm(reference.model)
    want = reference.embed(paths).numpy()
    model = ensure_model(tmp_path / "m.onnx", description(reference), lambda: reference.model)
    assert cosines(model.embed(paths), want).min() >= 0.9999


@needs_shared
@pytest.mark.slow
def test_fidelity_on_sample_photos_with_the_shared_cifar_model(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    from lookalike.samples import write_samples

    paths = write_samples(tmp_path / "samples")
    want = Embedder(str(WEIGHTS), device="cpu", backend="torch", precision="float32").embed(paths).numpy()
    onnx_embedder = Embedder(str(WEIGHTS), device="cpu")
    assert cosines(onnx_embedder.embed(paths).numpy(), want).min() >= 0.9999
    model = OnnxModel(cached_path(onnx_embedder.describe()))
    assert cosines(model.embed(paths), want).min() >= 0.9999


def test_find_cached_by_fingerprint_model_and_size(tmp_path: Path) -> None:
    from lookalike.features.onnx import find_cached
    from lookalike.models import file_fingerprint

    torch.manual_seed(3)
    net = create_model("resnet18", num_classes=10, cifar_stem=True)
    weights = save_checkpoint(tmp_path / "w.pt", net, net.lookalike_info)  # type: ignore[arg-type]
    fingerprint = file_fingerprint(weights)
    assert find_cached(fingerprint) is None  # nothing exported yet
    x = torch.rand(1, 3, 32, 32)
    Embedder(str(weights), device="cpu", backend="onnx").embed_batch(x)  # exports at the weights' own size
    Embedder(str(weights), device="cpu", size=48, backend="onnx").embed_batch(torch.rand(1, 3, 48, 48))
    own, bigger = find_cached(fingerprint), find_cached(fingerprint, size=48)
    assert own is not None and own.crop_size == 32 and own.description["fingerprint"] == fingerprint
    assert bigger is not None and bigger.crop_size == 48
    assert find_cached(fingerprint, size=64) is None and find_cached(fingerprint, model="resnet34") is None
    assert find_cached("sha256:" + "0" * 64) is None


def test_weights_that_cannot_load_fail_before_any_export_is_announced(tmp_path: Path) -> None:
    """Offline, ImageNet weights cannot download: the one line is that error, not "exporting … once" first."""
    notices: list[str] = []

    def offline() -> torch.nn.Module:
        raise LookalikeError("could not download the weights; offline, pass a local weights file")

    with pytest.raises(LookalikeError, match="could not download"):
        ensure_model(tmp_path / "m.onnx", {"model": "resnet18"}, offline, notice=notices.append)
    assert notices == [] and not (tmp_path / "m.onnx").exists()
