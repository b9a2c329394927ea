"""Deep features: a ResNet with its classifier removed turns images into vectors.

:class:`Embedder` takes weights (a torchvision name, a file, or ``"none"``), reads the preprocessing from
their metadata, and embeds paths, PIL images or image tensors in batches on the best device, in bf16 +
channels_last where the hardware runs that faster than float32 (CUDA, or a CPU with AMX), float32
otherwise or on request.

>>> from lookalike.features import Embedder
>>> emb = Embedder("../shared/models/resnet18-cifar10.pt")  # doctest: +SKIP
>>> emb.embed(["cat.jpg", "dog.jpg"]).shape  # doctest: +SKIP
torch.Size([2, 512])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from lookalike.errors import ImageError, LookalikeError
from lookalike.images import load_image
from lookalike.models import ModelInfo, create_model, model_info, torchvision_info

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn

Precision = Literal["auto", "float32", "bfloat16", "float16"]


def cpu_has_amx() -> bool:
    """True when this CPU has AMX tiles, where bf16 convolutions run several times faster than float32.

    Without AMX (e.g. AVX-512 only), oneDNN emulates bf16 and it runs *slower* than float32.
    """
    import torch

    return "AMX" in torch.backends.cpu.get_cpu_capability()


def default_device() -> str:
    """``"cuda"`` when a CUDA device is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(precision: Precision, device: str) -> str:
    """Pick the compute precision for inference.

    ``auto`` is float16 on CUDA (tensor cores run it as fast as bf16, and its 10-bit mantissa keeps
    top-10 neighbours: overlap 0.999 against float32, where bf16 measured 0.989), bfloat16 on CPUs with
    AMX, and float32 elsewhere (without AMX, bf16 runs slower than float32). ``bfloat16`` runs the last
    stage and the pooling in float32, which lifts neighbour overlap from 0.989 to 0.992.
    """
    import torch

    if precision not in ("auto", "float32", "bfloat16", "float16"):
        raise LookalikeError(f"unknown precision {precision!r}; choose auto, float32, bfloat16 or float16")
    kind = torch.device(device).type
    if precision == "auto":
        if kind == "cuda":
            return "float16"
        return "bfloat16" if kind == "cpu" and cpu_has_amx() else "float32"
    if precision == "float16" and kind == "cpu":
        raise LookalikeError("float16 is not supported on the CPU; use --precision bfloat16 or float32")
    return precision


def preprocess_info(info: ModelInfo, size: int | None) -> ModelInfo:
    """``info`` with its input size overridden to ``size`` (the resize scales with it)."""
    if size is None or size == info.crop_size:
        return info
    if size < 8:
        raise LookalikeError(f"--size {size} is too small; use at least 8 pixels")
    resize = round(size * info.resize_size / info.crop_size)
    return replace(info, crop_size=size, resize_size=resize)


def build_transform(info: ModelInfo) -> Callable[[Any], torch.Tensor]:
    """The preprocessing that ``info`` prescribes: resize the shorter side, centre-crop, scale to [0, 1],
    normalise with the weights' mean and std. Works on PIL images and on uint8 or [0, 1] float tensors.
    """
    import torch
    from torchvision.transforms import InterpolationMode, v2

    transform: Callable[[Any], torch.Tensor] = v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(info.resize_size, interpolation=InterpolationMode(info.interpolation), antialias=True),
            v2.CenterCrop(info.crop_size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(info.mean), list(info.std)),
        ]
    )
    return transform


@dataclass
class EmbeddedBatch:
    """One batch from :meth:`Embedder.iter_files`: vectors for ``indices``, failures as (index, reason)."""

    indices: list[int]
    vectors: torch.Tensor
    failures: list[tuple[int, str]]


class _FileDataset:
    """Decodes and preprocesses files in DataLoader workers; a bad file yields its error, not an exception."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        transform: Callable[[Any], torch.Tensor],
        draft: tuple[int, int] | None,
    ) -> None:
        self.paths, self.transform, self.draft = paths, transform, draft

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, self.transform(load_image(self.paths[i], draft=self.draft)), None
        except ImageError as exc:
            return i, None, str(exc)


def _collate(items: list[tuple[int, torch.Tensor | None, str | None]]) -> tuple[list[int], Any, list[Any]]:
    import torch

    good = [(i, x) for i, x, _ in items if x is not None]
    failures = [(i, err) for i, x, err in items if x is None]
    batch = torch.stack([x for _, x in good]) if good else None
    return [i for i, _ in good], batch, failures


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


class Embedder:
    """Turns images into feature vectors with a ResNet whose classifier is removed.

    ``weights`` decides the architecture and the preprocessing (see :func:`lookalike.models.load_weights`);
    ``model`` only checks or, for torchvision names and random weights, chooses the depth. ``size``
    overrides the input size. Vectors are float32 on the CPU, 512-d for resnet18/34 and 2048-d for
    resnet50/101/152, not normalised.

    >>> emb = Embedder("none", model="resnet50")
    >>> emb.dim
    2048
    """

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = "DEFAULT",
        *,
        model: str | None = None,
        device: str | None = None,
        precision: Precision = "auto",
        batch_size: int | None = None,
        num_workers: int | None = None,
        size: int | None = None,
    ) -> None:
        import torch

        self.weights = weights
        self.device = torch.device(device or default_device())
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise LookalikeError(
                "--device cuda was asked for but no CUDA device is visible; use --device cpu"
            )
        self.precision = resolve_precision(precision, str(self.device))
        self.batch_size = batch_size or (256 if self.device.type == "cuda" else 64)
        self.num_workers = num_workers
        self._model: nn.Module | None = None
        named = torchvision_info(weights, arch=model)
        if named is not None:
            # a torchvision name: metadata now, download on first use (pixel-only work never needs it)
            base = named
        else:
            self._model = create_model(model, num_classes=0, weights=weights)
            base = model_info(self._model)
        self.info = preprocess_info(base, size)
        self.transform = build_transform(self.info)

    @property
    def dim(self) -> int:
        """Length of the feature vectors."""
        return self.info.embed_dim

    @property
    def model(self) -> nn.Module:
        """The network (classifier removed), on the device, in eval mode; built on first use."""
        if self._model is None:
            self._model = create_model(self.info.arch, num_classes=0, weights=self.weights)
        return self._prepared

    @cached_property
    def _prepared(self) -> nn.Module:
        import torch

        assert self._model is not None
        net = self._model.eval().to(self.device)
        if self.device.type in ("cuda", "cpu"):
            net = net.to(memory_format=torch.channels_last)
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    def describe(self) -> dict[str, Any]:
        """What makes these vectors: model, weights, preprocessing, precision (stored with an index)."""
        i = self.info
        return {
            "model": i.arch,
            "cifar_stem": i.cifar_stem,
            "weights": i.source,
            "fingerprint": i.fingerprint,
            "dim": self.dim,
            "crop_size": i.crop_size,
            "resize_size": i.resize_size,
            "mean": list(i.mean),
            "std": list(i.std),
            "interpolation": i.interpolation,
            "precision": self.precision,
        }

    def preprocess(self, image: str | os.PathLike[str] | Image.Image | torch.Tensor) -> torch.Tensor:
        """One image (path, PIL image, or uint8 / [0, 1] float C×H×W tensor) → normalised 3×H×W float32."""
        import torch

        if isinstance(image, (str, os.PathLike)):
            image = load_image(image, draft=self._draft)
        elif isinstance(image, torch.Tensor):
            if image.ndim != 3 or image.shape[0] not in (1, 3):
                raise LookalikeError(
                    f"an image tensor must be C×H×W with 1 or 3 channels, got {tuple(image.shape)}"
                )
            if image.shape[0] == 1:
                image = image.expand(3, -1, -1)
        else:
            image = image.convert("RGB")
        return self.transform(image)

    @property
    def _draft(self) -> tuple[int, int]:
        return (self.info.resize_size, self.info.resize_size)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        if self.precision == "float32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def embed_batch(self, batch: torch.Tensor) -> torch.Tensor:
        """Preprocessed N×3×H×W tensors → N×D float32 vectors on the CPU."""
        import torch

        if batch.ndim != 4 or batch.shape[1] != 3:
            raise LookalikeError(f"expected a batch N×3×H×W, got {tuple(batch.shape)}")
        net: Any = self.model
        x = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.precision != "bfloat16":
                with self._autocast():
                    return net(x).float().cpu()  # type: ignore[no-any-return]
            # bf16 for the stem and stages 1-3; the last stage and the pooling in float32 (fidelity)
            with self._autocast():
                x = net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))))
            x = net.layer4(x.float())
            return torch.flatten(net.avgpool(x), 1).float().cpu()

    def embed(
        self,
        images: Iterable[str | os.PathLike[str] | Image.Image | torch.Tensor],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> torch.Tensor:
        """Embed images (paths, PIL images or tensors) → N×D float32. A bad file raises ImageError.

        ``progress`` is called with the number of images done after each batch.
        """
        import torch

        items = list(images)
        if items and all(isinstance(x, (str, os.PathLike)) for x in items):
            out = torch.empty(len(items), self.dim)
            for b in self.iter_files(items):  # type: ignore[arg-type]
                if b.failures:
                    raise ImageError(b.failures[0][1])
                out[b.indices] = b.vectors
                if progress:
                    progress(len(b.indices))
            return out
        chunks = []
        for start in range(0, len(items), self.batch_size):
            part = items[start : start + self.batch_size]
            chunks.append(self.embed_batch(torch.stack([self.preprocess(x) for x in part])))
            if progress:
                progress(len(part))
        return torch.cat(chunks) if chunks else torch.empty(0, self.dim)

    def iter_files(
        self, paths: Sequence[str | os.PathLike[str]], *, num_workers: int | None = None
    ) -> Iterator[EmbeddedBatch]:
        """Stream vectors for many files in order, batch by batch; bad files become ``failures``.

        Decoding runs in worker processes (overlapping inference) when there is enough work.
        """
        import torch
        from torch.utils.data import DataLoader

        workers = num_workers if num_workers is not None else self.num_workers
        if workers is None:
            workers = 0 if len(paths) < 2 * self.batch_size else min(os.cpu_count() or 1, 8)
        loader: DataLoader[Any] = DataLoader(
            _FileDataset(paths, self.transform, self._draft),  # type: ignore[arg-type]
            batch_size=self.batch_size,
            num_workers=workers,
            collate_fn=_collate,
            worker_init_fn=_worker_init if workers else None,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if workers else None,
        )
        for indices, batch, failures in loader:
            vectors = self.embed_batch(batch) if batch is not None else torch.empty(0, self.dim)
            yield EmbeddedBatch(indices, vectors, failures)
