"""Loading weights (torchvision enums, state dicts, lookalike checkpoints) and saving checkpoints.

Every loader returns the tensors with the :class:`~lookalike.models.info.ModelInfo` that says how inputs
must be preprocessed; fingerprints identify a weights file by its contents.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.download import check_reachable, network_timeout, reason
from lookalike.errors import WeightsError
from lookalike.files import atomic_write
from lookalike.hashing import file_sha256
from lookalike.models.info import (
    _RANDOM_WORDS,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    ModelInfo,
    _cifar_info,
    _imagenet_info,
    _info_from_enum,
    check_model_name,
    infer_architecture,
    random_info,
)

if TYPE_CHECKING:
    import torch
    from torch import nn


def load_weights(
    weights: str | os.PathLike[str] | None,
    *,
    arch: str | None = None,
    cifar_stem: bool | None = None,
) -> tuple[dict[str, torch.Tensor] | None, ModelInfo]:
    """Resolve a weights spec to ``(state_dict, info)``; ``state_dict`` is ``None`` for random weights.

    ``weights`` is one of:

    * ``None`` or ``"none"`` — random initialisation (``arch`` defaults to resnet18);
    * a torchvision weights name — ``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"`` or
      ``"ResNet50_Weights.IMAGENET1K_V2"`` — downloaded and cached by torchvision;
    * a file: a torchvision-layout state dict (with or without ``fc``, any float dtype, saved on any
      device; CIFAR or ImageNet stem and the depth are read from the tensors) or a lookalike checkpoint.

    Tensors come back as float32 on the CPU. Raises :class:`WeightsError` with one actionable line.

    >>> state, info = load_weights("models/resnet18-cifar10.pt")  # doctest: +SKIP
    >>> info.arch, info.cifar_stem, info.crop_size  # doctest: +SKIP
    ('resnet18', True, 32)
    """
    if arch is not None:
        check_model_name(arch)
    if weights is None or (isinstance(weights, str) and weights.strip().lower() in _RANDOM_WORDS):
        return None, random_info(arch or "resnet18", cifar_stem=bool(cifar_stem))
    text = os.fspath(weights)
    path = Path(text).expanduser()
    if path.is_file():
        state, info = _load_file(path)
    elif path.exists():
        raise WeightsError(f"weights path {text!r} is a directory, not a file; pass the .pt file inside it")
    elif _looks_like_path(text):
        raise WeightsError(
            f"weights file not found: {text}; check the path, or pass a torchvision name "
            "such as IMAGENET1K_V1, or 'none' for random weights"
        )
    else:
        state, info = _load_torchvision(text, arch or "resnet18")
    if arch is not None and info.arch != arch:
        raise WeightsError(
            f"the weights are {info.arch} but model {arch} was asked for",
            f"leave the model unset (the weights name it) or pass {arch} weights",
        )
    if cifar_stem is not None and info.cifar_stem != cifar_stem:
        stem = "CIFAR (3×3)" if info.cifar_stem else "ImageNet (7×7)"
        raise WeightsError(
            f"the weights have the {stem} stem",
            "leave `cifar_stem` unset (the weights say it) or pass matching weights",
        )
    return state, info


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or bool(re.search(r"\.(pt|pth|ckpt|bin|safetensors)$", text))


def _torchvision_enum(name: str, arch: str) -> Any:
    """The torchvision weights enum member called ``name`` for ``arch`` (``DEFAULT`` included)."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)
    short = name.split(".", 1)[1] if name.startswith(enum.__name__ + ".") else name
    try:
        return enum[short]
    except KeyError:
        valid = ", ".join(["DEFAULT", *(w.name for w in enum)])
        raise WeightsError(
            f"unknown weights {name!r} for {arch}; pass a file path, 'none', or one of: {valid}"
        ) from None


def torchvision_info(weights: str | os.PathLike[str] | None, *, arch: str | None = None) -> ModelInfo | None:
    """Metadata of torchvision weights given by name, without downloading them; ``None`` for files and
    random weights. Lets pixel-space work use the weights' preprocessing while offline.
    """
    if not isinstance(weights, str) or weights.strip().lower() in _RANDOM_WORDS:
        return None
    if Path(weights).expanduser().exists() or _looks_like_path(weights):
        return None
    name = check_model_name(arch or "resnet18")
    return _info_from_enum(name, _torchvision_enum(weights, name), num_classes=1000)


def _load_torchvision(name: str, arch: str) -> tuple[dict[str, torch.Tensor], ModelInfo]:
    """Load a torchvision weights enum by name, failing within seconds when offline."""
    import torch.hub

    weights = _torchvision_enum(name, arch)
    filename = Path(weights.url).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not cached.is_file():
        try:
            check_reachable(weights.url)
            with network_timeout():
                weights.get_state_dict(progress=True)
        except Exception as exc:  # URLError, timeouts, DNS failures, hash mismatch
            raise WeightsError(
                f"could not download {weights} from {weights.url} ({reason(exc)})",
                f"offline, pass a local weights file as `weights` (a state dict or a lookalike checkpoint) "
                f"or put {filename} in {cached.parent}",
            ) from None
    state, _ = _read_state(cached)
    return state, _info_from_enum(arch, weights, num_classes=1000)


def file_fingerprint(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes: identifies weights independently of their path."""
    return "sha256:" + file_sha256(path)


def weights_fingerprint(path: Path) -> str:
    """The fingerprint :func:`load_weights` gives a plain state dict's file without loading it: its bytes',
    and its model card's when one lies beside it (a card gives other vectors). For a lookalike checkpoint
    beside a stray ``.json`` this names no export, which only costs loading the weights."""
    try:
        card = path.with_suffix(".json").read_bytes()
    except OSError:
        return file_fingerprint(path)
    return file_fingerprint(path) + _card_digest(card)


def _card_digest(card: bytes) -> str:
    import hashlib

    return "+card:" + hashlib.sha256(card).hexdigest()[:16]


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Read a state dict (and lookalike metadata, if any) from ``path`` safely (``weights_only``)."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # a pickled class (a whole nn.Module, say), refused for safety
            raise WeightsError(
                f"{path} holds pickled Python objects, not plain weights; re-save it with "
                "torch.save(model.state_dict(), PATH)"
            ) from None
        raise WeightsError(
            f"{path} is not a readable PyTorch weights file (it is not a pickle or zip "
            "archive torch wrote); it may be truncated or foreign: download or save it again"
        ) from None
    except Exception as exc:  # torch raises many types for foreign bytes: RuntimeError, KeyError, EOFError…
        raise WeightsError(
            f"{path} is not a readable PyTorch weights file ({reason(exc)}); it may be truncated or "
            "foreign: download or save it again"
        ) from None
    meta: dict[str, Any] | None = None
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        meta = obj
        obj = obj.get("state_dict")
    elif isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(
            f"{path} is not a state dict of tensors; save weights with torch.save(model.state_dict(), PATH)"
        )
    state = {_strip_prefixes(k): v for k, v in obj.items()}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return state, meta


def _strip_prefixes(key: str) -> str:
    for prefix in ("module.", "_orig_mod.", "model."):
        while key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def _load_file(path: Path) -> tuple[dict[str, torch.Tensor], ModelInfo]:
    state, meta = _read_state(path)
    fingerprint = file_fingerprint(path)
    if meta is not None:
        if meta.get("version", 0) > CHECKPOINT_VERSION:
            raise WeightsError(
                f"{path} was written by a newer lookalike (checkpoint version "
                f"{meta.get('version')}); upgrade lookalike"
            )
        try:
            info = ModelInfo.from_dict(meta["info"])
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{path} has damaged lookalike metadata; train or save it again") from None
        extra = {k: v for k, v in meta.items() if k not in ("state_dict", "info", "format")}
        info = replace(info, source=f"file:{path}", fingerprint=fingerprint, extra=extra)
        inferred = infer_architecture(state, where=str(path))
        if (inferred[0], inferred[1]) != (info.arch, info.cifar_stem):
            raise WeightsError(
                f"{path}: metadata says {info.arch} but the tensors are {inferred[0]}; "
                "the checkpoint is damaged"
            )
        return state, info
    arch, cifar_stem, num_classes = infer_architecture(state, where=str(path))
    source = f"file:{path}"
    if cifar_stem:
        info = _cifar_info(arch, num_classes, source, fingerprint)
    else:
        info = replace(_imagenet_info(arch), num_classes=num_classes, source=source, fingerprint=fingerprint)
        if num_classes != 1000:
            info = replace(info, classes=None)
    return state, _with_card(info, path)


#: What a model card beside a plain state dict (``weights.json`` for ``weights.pt``) may set.
CARD_KEYS = ("mean", "std", "crop_size", "resize_size", "interpolation", "classes")


def _with_card(info: ModelInfo, path: Path) -> ModelInfo:
    """``info`` with what the model card beside ``path`` says (its preprocessing, its classes), if there is
    one: a plain state dict carries no metadata, and guessed statistics are only close. The card's bytes
    join the fingerprint, so vectors made with another card are never mixed with these."""
    import json

    card = path.with_suffix(".json")
    if not card.is_file():
        return info
    try:
        raw = card.read_bytes()
        data = json.loads(raw)
        if not isinstance(data, dict) or not set(data) <= set(CARD_KEYS):
            raise ValueError(f"keys must be among {', '.join(CARD_KEYS)}")
        changes: dict[str, Any] = {}
        for key in ("mean", "std"):
            if key in data:
                values = tuple(float(v) for v in data[key])
                if len(values) != 3 or (key == "std" and min(values) <= 0):
                    raise ValueError(
                        f"{key} must be 3 numbers (RGB){', all positive' if key == 'std' else ''}"
                    )
                changes[key] = values
        for key in ("crop_size", "resize_size"):
            if key in data:
                if int(data[key]) < 1:
                    raise ValueError(f"{key} must be a positive number of pixels")
                changes[key] = int(data[key])
        if "interpolation" in data:
            if data["interpolation"] not in ("bilinear", "bicubic", "nearest"):
                raise ValueError("interpolation must be bilinear, bicubic or nearest")
            changes["interpolation"] = str(data["interpolation"])
        if "classes" in data:
            classes = tuple(str(c) for c in data["classes"])
            if len(classes) != info.num_classes:
                raise ValueError(f"classes lists {len(classes)} names for {info.num_classes} outputs")
            changes["classes"] = classes
    except (OSError, ValueError, TypeError) as exc:
        raise WeightsError(
            f"{card}: not a model card lookalike can read ({exc}); fix it or move it away from {path.name}"
        ) from None
    return replace(info, **changes, fingerprint=info.fingerprint + _card_digest(raw))


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, info: ModelInfo, **extra: Any) -> Path:
    """Write ``model``'s weights with ``info`` (and plain-typed ``extra``) atomically to ``path``.

    The file is written beside the target and renamed over it, so an interrupted save leaves the previous
    checkpoint intact. It loads with ``torch.load(weights_only=True)``, and as ``weights`` everywhere in
    lookalike.
    """
    import torch

    state = {_strip_prefixes(k): v.detach().cpu() for k, v in model.state_dict().items()}
    num_classes = int(state["fc.weight"].shape[0]) if "fc.weight" in state else 0
    info_d = replace(info, num_classes=num_classes, source="checkpoint", fingerprint="").to_dict()
    info_d.pop("extra", None)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "info": info_d,
        "state_dict": state,
        **extra,
    }
    return atomic_write(path, lambda f: torch.save(payload, f))
