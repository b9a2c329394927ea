"""Weights in every form: torchvision names, state dicts, checkpoints, and every way they go wrong."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn

from lookalike.errors import WeightsError, hint_for_cli
from lookalike.models import (
    CIFAR10_MEAN,
    ModelInfo,
    create_model,
    load_weights,
    model_info,
    random_info,
    save_checkpoint,
    torchvision_info,
)
from shared_data import WEIGHTS as SHARED_WEIGHTS
from shared_data import needs_weights as needs_shared


@needs_shared
def test_the_shared_checkpoint_is_read_as_a_cifar_resnet18() -> None:
    state, info = load_weights(SHARED_WEIGHTS)
    assert state is not None
    assert (info.arch, info.cifar_stem, info.num_classes, info.crop_size) == ("resnet18", True, 10, 32)
    assert info.mean == CIFAR10_MEAN
    assert info.fingerprint.startswith("sha256:")
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("cifar", [True, False])
def test_state_dicts_in_any_dtype_and_stem_load(tmp_path: Path, dtype: torch.dtype, cifar: bool) -> None:
    source = create_model("resnet18", num_classes=10, cifar_stem=cifar)
    path = tmp_path / "w.pt"
    torch.save({k: v.to(dtype) if v.is_floating_point() else v for k, v in source.state_dict().items()}, path)
    model = create_model(None, num_classes=10, weights=path)
    info = model_info(model)
    assert (info.arch, info.cifar_stem) == ("resnet18", cifar)
    assert info.crop_size == (32 if cifar else 224)
    expected = source.conv1.weight.to(dtype).float()
    assert torch.equal(model.conv1.weight, expected)


def test_state_dict_without_fc_and_with_ddp_prefixes_loads(tmp_path: Path) -> None:
    source = create_model("resnet34", num_classes=1000)
    state = {f"module.{k}": v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    path = tmp_path / "backbone.pth"
    torch.save(state, path)
    model = create_model(None, num_classes=0, weights=path)
    assert model_info(model).arch == "resnet34"
    assert torch.equal(model.layer3[5].bn2.running_var, source.layer3[5].bn2.running_var)


def test_lookalike_checkpoint_round_trip_keeps_the_metadata(tmp_path: Path) -> None:
    model = create_model("resnet18", num_classes=3, cifar_stem=True)
    info = ModelInfo(
        arch="resnet18",
        cifar_stem=True,
        num_classes=3,
        crop_size=32,
        resize_size=32,
        mean=(0.1, 0.2, 0.3),
        std=(0.4, 0.5, 0.6),
        classes=("cat", "dog", "frog"),
    )
    path = save_checkpoint(tmp_path / "run" / "model.pt", model, info, epochs=2)
    loaded = create_model(None, num_classes=3, weights=path)
    got = model_info(loaded)
    assert (got.mean, got.std, got.classes) == (info.mean, info.std, info.classes)
    assert got.extra["epochs"] == 2
    assert torch.equal(loaded.fc.weight, model.fc.weight)
    # the head-less embedding forgets the class names
    assert model_info(create_model(None, num_classes=0, weights=path)).classes is None


def test_interrupted_save_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = create_model("resnet18", num_classes=2, cifar_stem=True)
    info = random_info("resnet18", cifar_stem=True, num_classes=2)
    path = save_checkpoint(tmp_path / "model.pt", model, info)
    before = path.read_bytes()

    def broken_save(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, info)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_newer_checkpoint_versions_are_refused(tmp_path: Path) -> None:
    model = create_model("resnet18", num_classes=2, cifar_stem=True)
    path = save_checkpoint(tmp_path / "m.pt", model, random_info("resnet18", cifar_stem=True), version=99)
    with pytest.raises(WeightsError, match="newer lookalike"):
        load_weights(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "not a readable PyTorch weights file"),
        (lambda p: p.write_text("hello"), "not a readable PyTorch weights file"),
        (lambda p: torch.save(nn.Linear(2, 2), p), "pickled Python objects"),
        (lambda p: torch.save({"weight": torch.zeros(2)}, p), "not a torchvision ResNet"),
        (lambda p: torch.save([1, 2, 3], p), "not a state dict"),
    ],
    ids=["empty", "text", "pickled-module", "not-resnet", "list"],
)
def test_foreign_files_are_one_clear_line(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "w.pt"
    make(path)  # type: ignore[operator]
    with pytest.raises(WeightsError, match=message) as err:
        load_weights(path)
    assert "\n" not in str(err.value)


def test_truncated_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(create_model("resnet18", num_classes=2, cifar_stem=True).state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated") as err:
        load_weights(path)
    assert "\n" not in str(err.value)


def test_missing_paths_and_directories_are_named(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "nope.pt")
    with pytest.raises(WeightsError, match="directory"):
        load_weights(tmp_path)


def test_mismatched_depth_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r34.pt"
    with torch.device("meta"):
        state = create_model("resnet34").state_dict()
    torch.save({k: torch.zeros(v.shape, dtype=v.dtype) for k, v in state.items()}, path)
    with pytest.raises(WeightsError, match="resnet34 but model resnet18"):
        load_weights(path, arch="resnet18")


def test_torchvision_names_resolve_to_their_own_preprocessing() -> None:
    v1 = torchvision_info("IMAGENET1K_V1", arch="resnet50")
    v2 = torchvision_info("ResNet50_Weights.IMAGENET1K_V2", arch="resnet50")
    assert v1 is not None and v2 is not None
    assert (v1.crop_size, v1.resize_size) == (224, 256)
    assert (v2.crop_size, v2.resize_size) == (224, 232)  # read from torchvision, not assumed
    assert v1.mean == (0.485, 0.456, 0.406) and v1.classes is not None and len(v1.classes) == 1000
    assert torchvision_info("none") is None and torchvision_info("some/file.pt") is None
    with pytest.raises(WeightsError, match="DEFAULT, IMAGENET1K_V1"):
        torchvision_info("IMAGENET9K", arch="resnet18")


def test_offline_download_fails_fast_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("lookalike.models.weights.check_reachable", lambda url: None)  # the host answers
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError, match="offline, pass a local weights file as `weights`") as err:
        load_weights("IMAGENET1K_V1", arch="resnet18")
    assert "could not download" in str(err.value) and "\n" not in str(err.value)
    assert err.value.hint is not None
    assert "pass a local weights file as --weights" in hint_for_cli(err.value.hint, {"weights": "--weights"})


def test_unreachable_host_fails_before_torchvision_prints_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def unreachable(url: str) -> None:
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr("lookalike.models.weights.check_reachable", unreachable)
    with pytest.raises(WeightsError, match="Name or service not known"):
        load_weights("IMAGENET1K_V1", arch="resnet18")
    out, err = capfd.readouterr()
    assert "Downloading" not in out + err


def test_random_weights_only_when_asked() -> None:
    state, info = load_weights("none", arch="resnet50")
    assert state is None and info.source == "random" and info.embed_dim == 2048
    assert load_weights(None)[1].arch == "resnet18"


def test_a_model_card_beside_a_plain_state_dict_gives_its_preprocessing(tmp_path: Path) -> None:
    import json

    path = tmp_path / "resnet18-cifar10.pt"
    torch.save(create_model("resnet18", num_classes=10, cifar_stem=True).state_dict(), path)
    _, guessed = load_weights(path)
    assert guessed.mean == CIFAR10_MEAN  # no card: the original CIFAR-10 release's statistics
    card = {"mean": [0.4913, 0.4821, 0.4465], "std": [0.2452, 0.2428, 0.2606], "classes": list("abcdefghij")}
    path.with_suffix(".json").write_text(json.dumps(card))
    _, info = load_weights(path)
    assert info.mean == (0.4913, 0.4821, 0.4465) and info.std == (0.2452, 0.2428, 0.2606)
    assert info.classes == tuple("abcdefghij") and info.crop_size == 32
    assert info.fingerprint.startswith(guessed.fingerprint + "+card:")  # other vectors: never mixed
    for bad, words in (
        ({"std": [0.2, 0.0, 0.2]}, "all positive"),
        ({"classes": ["cat"]}, "1 names for 10 outputs"),
        ({"colour": "blue"}, "keys must be among"),
    ):
        path.with_suffix(".json").write_text(json.dumps(bad))
        with pytest.raises(WeightsError, match=words) as err:
            load_weights(path)
        assert "\n" not in str(err.value) and "resnet18-cifar10.json: not a model card" in str(err.value)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(WeightsError, match="not a model card"):
        load_weights(path)
