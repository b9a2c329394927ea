"""The ResNet family: builders, weights with the metadata that decides preprocessing, and stage tables.

ResNets come from torchvision; this module adds what torchvision leaves to the caller:

* :func:`create_model` — one factory for resnet18/34/50/101/152, with ``num_classes=0`` meaning "give me
  the embedding" (the classifier becomes ``Identity``) and ``cifar_stem=True`` for 32×32 inputs.
* :func:`load_weights` — torchvision's weight enums, local state dicts (any dtype, CIFAR or ImageNet stem
  detected from the tensors) and lookalike checkpoints, each returned with a :class:`ModelInfo` that says
  how inputs must be preprocessed. Nothing else in lookalike guesses preprocessing.
* :func:`summary` — the ResNet paper's stage table computed from the real model, with torchsummary-style
  size totals and mult-adds.

>>> from lookalike.models import create_model
>>> net = create_model("resnet50", num_classes=0)
>>> net.fc
Identity()
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.download import check_reachable, network_timeout, reason
from lookalike.errors import WeightsError

if TYPE_CHECKING:
    import torch
    from torch import nn

MODEL_NAMES: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")

# (bottleneck blocks?, blocks per stage) -> name; the table in the ResNet paper.
_LAYOUTS: dict[tuple[bool, tuple[int, ...]], str] = {
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (True, (3, 8, 36, 3)): "resnet152",
}

# Per-channel statistics of the original CIFAR-10 training split (RGB, pixels in [0, 1]). Used only for a
# CIFAR-stem state dict that carries no metadata of its own; lookalike checkpoints store their own.
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
CIFAR_INPUT_SIZE = 32

CHECKPOINT_FORMAT = "lookalike-checkpoint"
CHECKPOINT_VERSION = 1

# Words that mean "no pretrained weights".
_RANDOM_WORDS = frozenset({"none", "random", "scratch"})


@dataclass(frozen=True)
class ModelInfo:
    """What a set of weights needs in order to be used: the architecture and the preprocessing.

    It travels with lookalike checkpoints and is derived from torchvision's weight metadata or from the
    tensors of a plain state dict. ``resize_size`` is the shorter side images are resized to before a
    centre crop of ``crop_size``.
    """

    arch: str
    cifar_stem: bool
    num_classes: int
    crop_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: tuple[str, ...] | None = None
    interpolation: str = "bilinear"
    source: str = "random"
    fingerprint: str = "random"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def embed_dim(self) -> int:
        """Length of the feature vector: 512 for resnet18/34, 2048 for resnet50/101/152."""
        return 512 if self.arch in ("resnet18", "resnet34") else 2048

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so it can be stored with ``torch.save`` and read with ``weights_only=True``."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["classes"] = list(self.classes) if self.classes is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelInfo:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        kw["mean"] = tuple(float(x) for x in kw["mean"])
        kw["std"] = tuple(float(x) for x in kw["std"])
        if kw.get("classes") is not None:
            kw["classes"] = tuple(kw["classes"])
        return cls(**kw)


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`.

    >>> list_models()
    ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']
    """
    return list(MODEL_NAMES)


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a known ResNet, else raise a one-line error listing the valid names."""
    if name not in MODEL_NAMES:
        raise WeightsError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    return name


def _imagenet_info(arch: str) -> ModelInfo:
    """Preprocessing of torchvision's default ImageNet weights for ``arch`` (read from torchvision)."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(arch).DEFAULT
    return _info_from_enum(arch, weights, num_classes=1000)


def _info_from_enum(arch: str, weights: Any, *, num_classes: int) -> ModelInfo:
    t = weights.transforms()
    return ModelInfo(
        arch=arch,
        cifar_stem=False,
        num_classes=num_classes,
        crop_size=int(t.crop_size[0]),
        resize_size=int(t.resize_size[0]),
        mean=tuple(float(x) for x in t.mean),  # type: ignore[arg-type]
        std=tuple(float(x) for x in t.std),  # type: ignore[arg-type]
        classes=tuple(weights.meta["categories"]),
        interpolation=str(t.interpolation.value),
        source=f"torchvision:{weights}",
        fingerprint=f"torchvision:{weights}",
    )


def _cifar_info(arch: str, num_classes: int, source: str, fingerprint: str) -> ModelInfo:
    return ModelInfo(
        arch=arch,
        cifar_stem=True,
        num_classes=num_classes,
        crop_size=CIFAR_INPUT_SIZE,
        resize_size=CIFAR_INPUT_SIZE,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        source=source,
        fingerprint=fingerprint,
    )


def random_info(arch: str = "resnet18", *, cifar_stem: bool = False, num_classes: int = 1000) -> ModelInfo:
    """Metadata for randomly initialised weights: ImageNet (or CIFAR) preprocessing, no classes."""
    check_model_name(arch)
    if cifar_stem:
        return _cifar_info(arch, num_classes, "random", "random")
    return replace(
        _imagenet_info(arch), num_classes=num_classes, classes=None, source="random", fingerprint="random"
    )


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

    >>> state, info = load_weights("../shared/models/resnet18-cifar10.pt")  # doctest: +SKIP
    >>> info.arch, info.cifar_stem, info.crop_size
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
            f"the weights are {info.arch} but model {arch} was asked for; drop --model or pass {arch} weights"
        )
    if cifar_stem is not None and info.cifar_stem != cifar_stem:
        stem = "CIFAR (3×3)" if info.cifar_stem else "ImageNet (7×7)"
        raise WeightsError(f"the weights have the {stem} stem; drop --cifar-stem or pass matching weights")
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
                f"could not download {weights} from {weights.url} ({reason(exc)}); offline, pass a local "
                f"file with --weights PATH (e.g. ../shared/models/resnet18-cifar10.pt) or put {filename} "
                f"in {cached.parent}"
            ) from None
    state, _ = _read_state(cached)
    return state, _info_from_enum(arch, weights, num_classes=1000)


def file_fingerprint(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes: identifies weights independently of their path."""
    from lookalike.hashing import file_sha256

    return "sha256:" + file_sha256(path)


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
        return state, _cifar_info(arch, num_classes, source, fingerprint)
    info = replace(_imagenet_info(arch), num_classes=num_classes, source=source, fingerprint=fingerprint)
    if num_classes != 1000:
        info = replace(info, classes=None)
    return state, info


def infer_architecture(state: Mapping[str, torch.Tensor], *, where: str = "weights") -> tuple[str, bool, int]:
    """Read ``(arch, cifar_stem, num_classes)`` off a torchvision-layout ResNet state dict.

    ``num_classes`` is 0 when the dict has no ``fc``.
    """
    if "conv1.weight" not in state or "layer1.0.conv1.weight" not in state:
        sample = ", ".join(list(state)[:3])
        raise WeightsError(
            f"{where} is not a torchvision ResNet state dict (keys start {sample}); pass "
            "resnet18/34/50/101/152 weights"
        )
    bottleneck = "layer1.0.conv3.weight" in state
    blocks = []
    for stage in range(1, 5):
        ids = {int(m.group(1)) for k in state if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        blocks.append(len(ids))
    arch = _LAYOUTS.get((bottleneck, tuple(blocks)))
    if arch is None:
        raise WeightsError(f"{where} is a ResNet with blocks {blocks}, not one of {', '.join(MODEL_NAMES)}")
    kernel = state["conv1.weight"].shape[-1]
    if kernel not in (3, 7):
        raise WeightsError(f"{where} has a {kernel}×{kernel} first convolution; expected 7×7 or 3×3")
    num_classes = int(state["fc.weight"].shape[0]) if "fc.weight" in state else 0
    return arch, kernel == 3, num_classes


def _build(arch: str, *, num_classes: int, cifar_stem: bool) -> nn.Module:
    import torchvision
    from torch import nn

    model: nn.Module = getattr(torchvision.models, check_model_name(arch))(
        weights=None, num_classes=num_classes
    )
    if cifar_stem:
        # 32×32 inputs: a 3×3 stride-1 first convolution and no max-pool keep 32×32 into layer1.
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


def create_model(
    name: str | None,
    *,
    num_classes: int = 1000,
    weights: str | os.PathLike[str] | None = None,
    cifar_stem: bool | None = None,
) -> nn.Module:
    """Build a torchvision ResNet, optionally with weights, and a classifier of ``num_classes`` outputs.

    ``num_classes=0`` removes the classifier: the model returns its pooled features (512-d or 2048-d).
    A ``num_classes`` different from the weights' replaces ``fc`` with a fresh ``Linear`` layer (transfer
    learning). ``cifar_stem=True`` swaps the 7×7 stride-2 convolution and max-pool for a 3×3 stride-1
    convolution; with weights, the stem is read from them. ``name=None`` takes the depth from the weights.
    The resolved :class:`ModelInfo` is attached as ``model.lookalike_info`` (see :func:`model_info`).

    >>> net = create_model("resnet18", num_classes=10, cifar_stem=True)
    >>> sum(p.numel() for p in net.parameters())
    11173962
    """
    from torch import nn

    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    state, info = load_weights(weights, arch=name, cifar_stem=cifar_stem)
    head = info.num_classes if state is not None and info.num_classes > 0 else max(num_classes, 1)
    model = _build(info.arch, num_classes=head, cifar_stem=info.cifar_stem)
    if state is not None:
        load_state(model, state, where=info.source.removeprefix("file:"))
    if num_classes == 0:
        model.fc = nn.Identity()
    elif model.fc.out_features != num_classes:  # type: ignore[union-attr]
        model.fc = nn.Linear(model.fc.in_features, num_classes)  # type: ignore[union-attr, arg-type]
    keep_classes = info.classes if num_classes == info.num_classes else None
    model.lookalike_info = replace(info, num_classes=num_classes, classes=keep_classes)  # type: ignore[assignment]
    return model


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], *, where: str = "weights") -> None:
    """Load ``state`` into ``model``; a state dict without ``fc`` is fine, anything else must match."""
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not (k.startswith("fc.") and "fc.weight" not in state)]
    if missing or result.unexpected_keys:
        bad = (missing or result.unexpected_keys)[:3]
        raise WeightsError(
            f"{where} does not fit the model ({len(missing)} missing, "
            f"{len(result.unexpected_keys)} unexpected keys, e.g. {', '.join(bad)})"
        )


def model_info(model: nn.Module) -> ModelInfo:
    """The :class:`ModelInfo` attached by :func:`create_model`."""
    info = getattr(model, "lookalike_info", None)
    if not isinstance(info, ModelInfo):
        raise TypeError("model was not made by lookalike.create_model, so it carries no ModelInfo")
    return info


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, info: ModelInfo, **extra: Any) -> Path:
    """Write ``model``'s weights with ``info`` (and plain-typed ``extra``) atomically to ``path``.

    The file is written beside the target and renamed over it, so an interrupted save leaves the previous
    checkpoint intact. It loads with ``torch.load(weights_only=True)`` and as ``--weights`` everywhere.
    """
    import torch

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
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
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# ----------------------------------------------------------------------------------------------------------
# The stage table


@dataclass(frozen=True)
class StageRow:
    """One row of the ResNet paper's table: a stage, its output size, its layers and its parameters."""

    name: str
    output_size: tuple[int, int]
    layers: str
    params: int
    note: str | None = None


@dataclass(frozen=True)
class ModelSummary:
    """The stage table and the totals of a model at one input size (torchsummary's accounting)."""

    name: str
    input_size: tuple[int, int, int]
    batch_size: int
    rows: tuple[StageRow, ...]
    total_params: int
    trainable_params: int
    input_mb: float
    forward_backward_mb: float
    params_mb: float
    total_mb: float
    mult_adds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _size(hw: tuple[int, int]) -> str:
    return f"{hw[0]}×{hw[1]}"


def _conv_spec(conv: nn.Conv2d) -> str:
    k = conv.kernel_size
    return f"{k[0]}×{k[1]}, {conv.out_channels}"


def summary(
    name: str | nn.Module,
    *,
    input_size: tuple[int, int, int] = (3, 224, 224),
    cifar_stem: bool = False,
    num_classes: int = 1000,
    batch_size: int = 1,
) -> ModelSummary:
    """The ResNet paper's stage table for a model, computed from the real modules and a traced forward.

    Rows are conv1, conv2_x … conv5_x and the pooled classifier; totals follow torchsummary (float32,
    forward/backward size counts every non-container module's output twice) and mult-adds count the
    multiply-accumulates of convolutions and linear layers. Runs on the ``meta`` device: no weights are
    allocated and no arithmetic is done.

    >>> s = summary("resnet18")
    >>> s.total_params, round(s.total_mb, 2), [r.output_size[0] for r in s.rows]
    (11689512, 107.96, [112, 56, 28, 14, 7, 1])
    """
    import torch
    from torch import nn

    if len(input_size) != 3 or min(input_size) < 1:
        raise ValueError(f"input size must be C×H×W with positive sizes, got {input_size}")
    model: Any  # a torchvision ResNet (untyped)
    if isinstance(name, str):
        with torch.device("meta"):
            model = _build(check_model_name(name), num_classes=num_classes, cifar_stem=cifar_stem)
        label = name + (" (CIFAR stem)" if cifar_stem else "")
    else:
        model, label = name, type(name).__name__
    model.eval()  # batch-norm in training mode refuses 1×1 maps at batch 1; shapes are the same
    outputs: dict[str, tuple[int, ...]] = {}
    activation_elems = 0
    mult_adds = 0

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal activation_elems, mult_adds
        outs = output if isinstance(output, (tuple, list)) else (output,)
        for o in outs:
            activation_elems += o[0].numel() * batch_size
        if isinstance(module, nn.Conv2d):
            per_out = module.weight[0].numel()  # in_channels/groups × kh × kw
            mult_adds += outs[0][0].numel() * batch_size * per_out
        elif isinstance(module, nn.Linear):
            mult_adds += module.in_features * module.out_features * batch_size

    def stage_hook(key: str) -> Any:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            outputs[key] = tuple(output.shape[2:])

        return record

    handles = []
    for mod in model.modules():
        if mod is not model and not isinstance(mod, (nn.Sequential, nn.ModuleList)):
            handles.append(mod.register_forward_hook(hook))
    stage_modules = {
        "conv1": model.conv1,
        "conv2_x": model.layer1,
        "conv3_x": model.layer2,
        "conv4_x": model.layer3,
        "conv5_x": model.layer4,
        "pool": model.avgpool,
    }
    for key, mod in stage_modules.items():
        handles.append(mod.register_forward_hook(stage_hook(key)))
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=device))
    except RuntimeError as exc:
        raise ValueError(
            f"input size {input_size} is too small or malformed for {label}: {reason(exc)}"
        ) from None
    finally:
        for h in handles:
            h.remove()

    def count(mod: nn.Module) -> int:
        return sum(p.numel() for p in mod.parameters())

    rows = [
        StageRow(
            "conv1",
            outputs["conv1"][:2],  # type: ignore[arg-type]
            f"{_conv_spec(model.conv1)}, stride {model.conv1.stride[0]}",
            count(model.conv1) + count(model.bn1),
        )
    ]
    for i, layer in enumerate((model.layer1, model.layer2, model.layer3, model.layer4)):
        first = layer[0]
        convs = [m for n, m in first.named_children() if re.fullmatch(r"conv\d", n)]
        spec = f"[{'; '.join(_conv_spec(c) for c in convs)}] × {len(layer)}"
        note = None
        if i == 0 and isinstance(model.maxpool, nn.MaxPool2d):
            k, s = model.maxpool.kernel_size, model.maxpool.stride
            note = f"{k}×{k} max pool, stride {s}"
        rows.append(
            StageRow(
                f"conv{i + 2}_x",
                outputs[f"conv{i + 2}_x"][:2],  # type: ignore[arg-type]
                spec,
                count(layer),
                note,
            )
        )
    fc = model.fc
    head = f"average pool, {fc.out_features}-d fc" if isinstance(fc, nn.Linear) else "average pool"
    rows.append(StageRow("output", outputs["pool"][:2], head, count(fc)))  # type: ignore[arg-type]

    total = count(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    mb = 1024.0**2
    input_mb = batch_size * input_size[0] * input_size[1] * input_size[2] * 4 / mb
    fwd_bwd_mb = 2 * activation_elems * 4 / mb
    params_mb = total * 4 / mb
    return ModelSummary(
        name=label,
        input_size=tuple(input_size),  # type: ignore[arg-type]
        batch_size=batch_size,
        rows=tuple(rows),
        total_params=total,
        trainable_params=trainable,
        input_mb=input_mb,
        forward_backward_mb=fwd_bwd_mb,
        params_mb=params_mb,
        total_mb=input_mb + fwd_bwd_mb + params_mb,
        mult_adds=mult_adds,
    )
