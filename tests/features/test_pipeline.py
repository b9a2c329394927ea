"""The file pipeline: worker processes, bad files as failures, JPEG decoding on the device."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

import lookalike.features.pipeline as pipeline
from feature_support import close, photo
from lookalike.errors import ImageError
from lookalike.features import Embedder
from lookalike.models import create_model


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


# ---------------------------------------------------------------------------------- decoding on the device


def test_device_jpeg_takes_only_ordinary_jpegs(tmp_path: Path) -> None:
    big = photo(tmp_path / "big.jpg", (320, 240), quality=98)
    assert big.stat().st_size >= pipeline._DEVICE_DECODE_MIN_BYTES
    data = pipeline._device_jpeg(big)
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
    from format_files import p3_profile

    display_p3 = tmp_path / "p3.jpg"  # its colours are converted to sRGB by Pillow, not on the GPU
    Image.open(big).save(display_p3, quality=98, icc_profile=p3_profile())
    for path in (small, png, cut, rotated, cmyk, display_p3, tmp_path / "missing.jpg"):
        assert pipeline._device_jpeg(path) is None, path.name


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
