"""Scoring a classifier: logits with optional flip TTA (:func:`predict`), the confusion matrix, accuracy
per class, and :func:`evaluate_checkpoint`, which scores a saved checkpoint on labelled images."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lookalike.data import ImageSet, Progress, load_data, normalize, subsample
from lookalike.errors import DataError, LookalikeError, WeightsError
from lookalike.features import default_device, resolve_precision
from lookalike.models import ModelInfo, create_model, load_weights
from lookalike.train.config import _select
from lookalike.train.reporting import Reporter
from lookalike.train.state import CHECKPOINT_NAME

if TYPE_CHECKING:
    import torch
    from torch import nn


def predict(
    model: nn.Module,
    images: torch.Tensor,
    *,
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
    device: torch.device | str,
    amp: Any = None,
    channels_last: bool = True,
    tta: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Logits (float32, CPU) of a classifier for uint8 N×3×H×W ``images``, normalised with ``mean``/``std``.

    ``tta`` averages the logits of each image and its mirror image. The model is left in eval mode.
    """
    import torch

    dev = torch.device(device)
    batch_size = batch_size or (1024 if dev.type == "cuda" else 256)
    model.eval()
    outs = []
    ctx = torch.autocast(dev.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        for start in range(0, len(images), batch_size):
            x = normalize(images[start : start + batch_size].to(dev), mean, std, channels_last=channels_last)
            logits = model(x).float()
            if tta:
                logits = (logits + model(x.flip(-1)).float()) / 2
            outs.append(logits.cpu())
            if progress:
                progress(min(start + batch_size, len(images)), len(images))
    return torch.cat(outs) if outs else torch.empty(0, 0)


def confusion_matrix(targets: torch.Tensor, predictions: torch.Tensor, classes: int) -> list[list[int]]:
    """K×K counts: row = true class, column = predicted class.

    >>> import torch
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2)
    [[1, 0], [1, 1]]
    """
    import torch

    flat = targets.to(torch.int64).cpu() * classes + predictions.to(torch.int64).cpu()
    counts = torch.bincount(flat, minlength=classes * classes).reshape(classes, classes)
    return [[int(v) for v in row] for row in counts.tolist()]


def per_class(confusion: list[list[int]], classes: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Images, correct predictions and accuracy per true class (classes without images are left out)."""
    out = []
    for i, name in enumerate(classes):
        n = sum(confusion[i])
        if n:
            out.append(
                {"class": name, "images": n, "correct": confusion[i][i], "accuracy": confusion[i][i] / n}
            )
    return out


@dataclass
class ClassifierEvaluation:
    """Accuracy of a classifier checkpoint on labelled images, per class and as a confusion matrix.

    (Retrieval quality is :class:`lookalike.evaluate.Evaluation`.)
    """

    checkpoint: str
    data: str
    split: str
    images: int
    accuracy: float
    loss: float
    classes: tuple[str, ...]
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    tta: bool
    precision: str
    device: str
    skipped: list[tuple[str, str]]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["skipped"] = [list(s) for s in self.skipped]
        return d


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    split: Literal["all", "train", "val"] = "all",
    limit: int | None = None,
    tta: bool | None = None,
    device: str | None = None,
    precision: str = "auto",
    batch_size: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    reporter: Reporter | None = None,
) -> ClassifierEvaluation:
    """Evaluate a classifier checkpoint (a ``model.pt``, a run folder, or any ResNet state dict with ``fc``).

    ``data`` is an ImageFolder tree, a zip of one, or ``cifar10`` (its test split for ``split="all"``).
    Folder class names are matched to the checkpoint's classes by name. ``split="val"``/``"train"`` redo
    the run's own fixed-seed split (and ``limit``) on the same data, so the held-out images of a
    ``lookalike train`` run can be scored again. ``tta`` defaults to the recipe's. Images are preprocessed
    as the checkpoint's metadata says (size, mean, std). ``precision="auto"`` scores a ``lookalike train``
    checkpoint in the precision its run validated in (so both report the same accuracy), other weights in
    the device's default.
    """
    import torch
    from torch import nn

    rep = reporter or Reporter()
    path, info = _classifier_info(checkpoint)
    dev = torch.device(device or default_device())
    prec = _validated_precision(info, dev) if precision == "auto" else None
    prec = prec or resolve_precision(precision, str(dev))  # type: ignore[arg-type]
    amp = None if prec == "float32" else (torch.bfloat16 if prec == "bfloat16" else torch.float16)
    cifar = os.fspath(data).strip().lower() == "cifar10"
    loaded = load_data(
        data,
        size=info.crop_size,
        resize=info.resize_size,
        train=not (cifar and split == "all"),
        root=data_root,
        cache=cache,
        workers=workers,
        progress=rep.counter("decoding images"),
    )
    chosen = _chosen_images(loaded, path, info, split, limit)
    names, targets = _targets(chosen, path, info)
    model, channels_last, recipe = _classifier(path, info, dev)
    use_tta = tta if tta is not None else bool(recipe.get("tta"))
    logits = predict(
        model,
        chosen.images,
        mean=info.mean,
        std=info.std,
        device=dev,
        amp=amp,
        channels_last=channels_last,
        tta=use_tta,
        batch_size=batch_size,
        progress=rep.counter("evaluating"),
    )
    matrix = confusion_matrix(targets, logits.argmax(1), len(names))
    return ClassifierEvaluation(
        checkpoint=str(path),
        data=loaded.source,
        split=split,
        images=len(targets),
        accuracy=float((logits.argmax(1) == targets).float().mean()) if len(targets) else 0.0,
        loss=float(nn.functional.cross_entropy(logits, targets)) if len(targets) else 0.0,
        classes=names,
        per_class=per_class(matrix, names),
        confusion=matrix,
        tta=use_tta,
        precision=prec,
        device=str(dev),
        skipped=list(loaded.skipped),
    )


def _classifier_info(checkpoint: str | os.PathLike[str]) -> tuple[Path, ModelInfo]:
    """The checkpoint file (``model.pt`` of a run folder) and its metadata; it must have a classifier."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    _, info = load_weights(path)
    if info.num_classes < 1:
        raise WeightsError(
            f"{path} has no classifier (fc) layer",
            "pass a model trained to classify, e.g. runs/<name>/model.pt",
        )
    return path, info


def _chosen_images(loaded: ImageSet, path: Path, info: ModelInfo, split: str, limit: int | None) -> ImageSet:
    """``split`` of the loaded images (the training run's own split for train/val), then ``limit``."""
    chosen = loaded
    if split != "all":
        run = info.extra.get("config")
        if not isinstance(run, dict):
            raise LookalikeError(f"{path} does not record a training split", "pass `split='all'`")
        if info.extra.get("data", {}).get("key") not in (None, loaded.key):
            raise LookalikeError(
                f"split {split!r} needs the data {path.name} was trained on "
                f"({info.extra['data'].get('source')})",
                "pass that as `data`, or `split='all'`",
            )
        train_set, val_set = _select(
            loaded, float(run["val_split"]), int(run["split_seed"]), run.get("limit")
        )
        picked = train_set if split == "train" else val_set
        if picked is None:
            raise LookalikeError(
                f"{path} was trained without a validation split", "pass `split='all'` or `split='train'`"
            )
        chosen = picked
    if limit is not None:
        chosen = chosen.subset(subsample(chosen.labels, limit, seed=0))
    return chosen


def _targets(chosen: ImageSet, path: Path, info: ModelInfo) -> tuple[tuple[str, ...], torch.Tensor]:
    """The checkpoint's class names and each image's class index in them (folders matched by name)."""
    import torch

    names = tuple(info.classes) if info.classes else None
    if names is None:
        if len(chosen.classes) != info.num_classes:
            raise LookalikeError(
                f"{path} has {info.num_classes} outputs but no class names, and the data has "
                f"{len(chosen.classes)} classes",
                "pass a checkpoint made by lookalike train",
            )
        names = chosen.classes
    index = {name: i for i, name in enumerate(names)}
    unknown = [c for c in chosen.classes if c not in index]
    if unknown:
        raise DataError(
            f"the data has classes the model does not know: {', '.join(unknown[:5])}",
            f"the model knows: {', '.join(names)}",
        )
    mapping = torch.tensor([index[c] for c in chosen.classes], dtype=torch.int64)
    return names, mapping[chosen.labels]


def _validated_precision(info: ModelInfo, dev: torch.device) -> str | None:
    """The precision a ``lookalike train`` checkpoint was validated in, when ``dev`` runs it (float16 only
    on CUDA): scored again in it, a run's validation accuracy comes back to the digit. ``None`` for other
    weights."""
    saved = info.extra.get("precision")
    if saved in ("float32", "bfloat16") or (saved == "float16" and dev.type == "cuda"):
        return str(saved)
    return None


def _classifier(path: Path, info: ModelInfo, dev: torch.device) -> tuple[nn.Module, bool, dict[str, Any]]:
    """The checkpoint's model on ``dev``, whether it runs channels-last, and its training recipe."""
    import torch

    model = create_model(None, num_classes=info.num_classes, weights=path).to(dev)
    saved = info.extra.get("recipe")
    recipe: dict[str, Any] = saved if isinstance(saved, dict) else {}
    # the recipe's memory format reproduces its validation numbers exactly; NHWC is faster elsewhere
    channels_last = bool(recipe.get("channels_last", True))
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model, channels_last, recipe
