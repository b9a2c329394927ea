"""The ResNet paper's stage table computed from the real model, with torchsummary-style totals."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from lookalike.download import reason
from lookalike.models.build import _build
from lookalike.models.info import check_model_name

if TYPE_CHECKING:
    from torch import nn


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
    if len(input_size) != 3 or min(input_size) < 1:
        raise ValueError(f"input size must be C×H×W with positive sizes, got {input_size}")
    model: Any  # a torchvision ResNet (untyped)
    if isinstance(name, str):
        import torch

        with torch.device("meta"):
            model = _build(check_model_name(name), num_classes=num_classes, cifar_stem=cifar_stem)
        label = name + (" (CIFAR stem)" if cifar_stem else "")
    else:
        model, label = name, type(name).__name__
    model.eval()  # batch-norm in training mode refuses 1×1 maps at batch 1; shapes are the same
    trace = _trace(model, input_size, batch_size, label)
    total = _count(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    mb = 1024.0**2
    input_mb = batch_size * input_size[0] * input_size[1] * input_size[2] * 4 / mb
    fwd_bwd_mb = 2 * trace.activation_elems * 4 / mb
    params_mb = total * 4 / mb
    return ModelSummary(
        name=label,
        input_size=tuple(input_size),  # type: ignore[arg-type]
        batch_size=batch_size,
        rows=_stage_rows(model, trace.outputs),
        total_params=total,
        trainable_params=trainable,
        input_mb=input_mb,
        forward_backward_mb=fwd_bwd_mb,
        params_mb=params_mb,
        total_mb=input_mb + fwd_bwd_mb + params_mb,
        mult_adds=trace.mult_adds,
    )


@dataclass
class _Trace:
    """What one forward pass showed: each stage's output size, activations and multiply-accumulates."""

    outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    activation_elems: int = 0
    mult_adds: int = 0


def _trace(model: Any, input_size: tuple[int, int, int], batch_size: int, label: str) -> _Trace:
    """Run one forward pass with hooks on every module (torchsummary's accounting) and on the stages."""
    import torch
    from torch import nn

    trace = _Trace()

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        outs = output if isinstance(output, (tuple, list)) else (output,)
        for o in outs:
            trace.activation_elems += o[0].numel() * batch_size
        if isinstance(module, nn.Conv2d):
            per_out = module.weight[0].numel()  # in_channels/groups × kh × kw
            trace.mult_adds += outs[0][0].numel() * batch_size * per_out
        elif isinstance(module, nn.Linear):
            trace.mult_adds += module.in_features * module.out_features * batch_size

    def stage_hook(key: str) -> Any:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            trace.outputs[key] = tuple(output.shape[2:])

        return record

    handles = [
        mod.register_forward_hook(hook)
        for mod in model.modules()
        if mod is not model and not isinstance(mod, (nn.Sequential, nn.ModuleList))
    ]
    stages = {"conv1": model.conv1, "pool": model.avgpool}
    stages.update({f"conv{i + 2}_x": getattr(model, f"layer{i + 1}") for i in range(4)})
    handles += [mod.register_forward_hook(stage_hook(key)) for key, mod in stages.items()]
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
    return trace


def _count(mod: nn.Module) -> int:
    return sum(p.numel() for p in mod.parameters())


def _stage_rows(model: Any, outputs: dict[str, tuple[int, ...]]) -> tuple[StageRow, ...]:
    """The table's rows: conv1, conv2_x … conv5_x (first block's convolutions × blocks), the head."""
    from torch import nn

    conv1 = model.conv1
    rows = [
        StageRow(
            "conv1",
            outputs["conv1"][:2],  # type: ignore[arg-type]
            f"{_conv_spec(conv1)}, stride {conv1.stride[0]}",
            _count(conv1) + _count(model.bn1),
        )
    ]
    for i, layer in enumerate((model.layer1, model.layer2, model.layer3, model.layer4)):
        convs = [m for n, m in layer[0].named_children() if re.fullmatch(r"conv\d", n)]
        spec = f"[{'; '.join(_conv_spec(c) for c in convs)}] × {len(layer)}"
        note = None
        if i == 0 and isinstance(model.maxpool, nn.MaxPool2d):
            k, s = model.maxpool.kernel_size, model.maxpool.stride
            note = f"{k}×{k} max pool, stride {s}"
        key = f"conv{i + 2}_x"
        rows.append(StageRow(key, outputs[key][:2], spec, _count(layer), note))  # type: ignore[arg-type]
    fc = model.fc
    head = f"average pool, {fc.out_features}-d fc" if isinstance(fc, nn.Linear) else "average pool"
    rows.append(StageRow("output", outputs["pool"][:2], head, _count(fc)))  # type: ignore[arg-type]
    return tuple(rows)
