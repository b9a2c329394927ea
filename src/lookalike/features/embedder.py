"""The :class:`Embedder`: weights in, one feature vector per image out (see :mod:`lookalike.features`)."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError, LookalikeError
from lookalike.features.devices import Backend, Precision, default_device, resolve_backend, resolve_precision
from lookalike.features.onnx import OnnxModel, cached_path, ensure_model
from lookalike.features.pipeline import EmbeddedBatch, _collate, _FileDataset, _finish, _unpack, _worker_init
from lookalike.features.transforms import (
    DRAFT_MARGIN,
    build_geometry,
    build_normalize,
    build_transform,
    preprocess_info,
)
from lookalike.images import load_image
from lookalike.models import create_model, model_info, torchvision_info

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn


def _fold_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of a torchvision ResNet in eval mode with every BatchNorm folded into the convolution before
    it: the same function (to float rounding) with one pass over the activations less per layer.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    for module in net.modules():
        for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
        downsample = getattr(module, "downsample", None)
        if isinstance(downsample, nn.Sequential) and len(downsample) == 2:
            conv, bn = downsample[0], downsample[1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                module.downsample = nn.Sequential(fuse_conv_bn_eval(conv, bn))
    return net


class Embedder:
    """Turns images into feature vectors with a ResNet whose classifier is removed.

    ``weights`` decides the architecture and the preprocessing (see :func:`lookalike.models.load_weights`);
    ``model`` only checks or, for torchvision names and random weights, chooses the depth. ``size``
    overrides the input size. Vectors are float32 on the CPU, 512-d for resnet18/34 and 2048-d for
    resnet50/101/152, not normalised.

    Speed knobs, each ``None`` for a default chosen by device:

    * ``batch_size`` — 64 on the CPU; 256 on CUDA (1024 for inputs of 64 pixels or less).
    * ``num_workers`` — decoding processes for :meth:`iter_files`: half the cores on the CPU (the network
      needs the rest), every core (up to 32) on CUDA; none for jobs of fewer than two batches.
    * ``device_decode`` — decode ordinary JPEG files with ``torchvision.io.decode_jpeg`` on the device
      (nvjpeg on CUDA) instead of Pillow in the workers; on for CUDA.

    ``backend`` — what runs the network (see :func:`resolve_backend`): ``auto`` is ONNX Runtime on the
    CPU in float32, PyTorch otherwise. The ONNX file is exported once per weights fingerprint, model and
    input size into the user cache (:func:`lookalike.features.onnx.cache_dir`), or where
    :meth:`use_model_file` says (an index keeps its own copy).

    ``compile=True`` runs full batches through :func:`torch.compile` (inductor, weights frozen; one
    shape, so a short last batch runs eagerly), falling back to eager mode with a warning where compiling
    fails. Off by default: it costs 30-50 s on a 2-core CPU, and per CPU-second it measured no faster than
    the eager network with BatchNorm folded (benchmarks/RESULTS.md).

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
        compile: bool = False,
        device_decode: bool | None = None,
        backend: Backend = "auto",
    ) -> None:
        import torch

        self.weights = weights
        self.device = torch.device(device or default_device())
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise LookalikeError(
                "the cuda device was asked for but no CUDA device is visible", "use `device='cpu'`"
            )
        self.precision = resolve_precision(precision, str(self.device), backend)
        self.backend = resolve_backend(backend, str(self.device), self.precision, compile=compile)
        self._model_file: Path | None = None
        self._model_description: dict[str, Any] | None = None
        self.num_workers = num_workers
        self.compile = compile
        self.device_decode = self.device.type == "cuda" if device_decode is None else device_decode
        self._model: nn.Module | None = None
        named = torchvision_info(weights, arch=model)
        if named is not None:
            # a torchvision name: metadata now, download on first use (pixel-only work never needs it)
            base = named
        else:
            self._model = create_model(model, num_classes=0, weights=weights)
            base = model_info(self._model)
        self.info = preprocess_info(base, size)
        self._weights_crop_size = base.crop_size
        if batch_size is None:
            batch_size = 64 if self.device.type != "cuda" else 1024 if self.info.crop_size <= 64 else 256
        self.batch_size = batch_size
        self.geometry = build_geometry(self.info)
        self.normalize = build_normalize(self.info)
        self.transform = build_transform(self.info)
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None

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
        net = self._model.eval().to(self.device).to(memory_format=torch.channels_last)
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    @cached_property
    def _runner(self) -> nn.Module:
        """What inference runs: in float32, :attr:`model` with its BatchNorms folded into a copy (7 % faster
        on a CPU, same vectors to float rounding); in bf16/fp16, ``model`` itself, since rounding folded
        weights costs fidelity (bf16 neighbour overlap 0.9889 folded, 0.9917 not; benchmarks/RESULTS.md).
        """
        return _fold_batchnorm(self.model) if self.precision == "float32" else self.model

    def use_model_file(self, path: str | os.PathLike[str], description: dict[str, Any] | None = None) -> None:
        """Keep the ONNX export in ``path`` (an index's own copy) instead of the user cache, described by
        ``description`` (default :meth:`describe`; an index passes its own, which fingerprints random
        weights by their values)."""
        self._model_file = Path(path)
        self._model_description = dict(description) if description is not None else None
        self.__dict__.pop("onnx_model", None)

    @cached_property
    def onnx_model(self) -> OnnxModel:
        """The network as ONNX Runtime runs it: loaded from its file, exported there first if missing,
        damaged or made for other weights (one line on stderr says so)."""
        description = self._model_description or {
            **self.describe(),
            "weights_crop_size": self._weights_crop_size,  # lets a torch-free compare find it by fingerprint
        }
        path = self._model_file
        if path is None and not str(description.get("fingerprint", "")).startswith("random"):
            path = cached_path(description)
        return ensure_model(path, description, lambda: self.model)

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
            "backend": self.backend,
        }

    def preprocess(self, image: str | os.PathLike[str] | Image.Image | torch.Tensor) -> torch.Tensor:
        """One image (path, PIL image, or uint8 / [0, 1] float C×H×W tensor) → normalised 3×H×W float32."""
        return self.normalize(self._pixels(image))

    def _pixels(self, image: str | os.PathLike[str] | Image.Image | torch.Tensor) -> torch.Tensor:
        """One image → resized and cropped 3×H×W, uint8 (or float, for a float tensor)."""
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
        return self.geometry(image)

    @property
    def _draft(self) -> tuple[int, int]:
        """What JPEG draft mode may shrink to: :data:`DRAFT_MARGIN` times the resize size."""
        side = DRAFT_MARGIN * self.info.resize_size
        return (side, side)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised N×3×H×W on the device → N×D float32 on the device, in :attr:`precision`."""
        import torch

        if self.backend == "onnx":
            return torch.from_numpy(self.onnx_model.run(x.cpu().contiguous().numpy()))
        net: Any = self._runner
        if self.precision == "float32":
            return net(x)  # type: ignore[no-any-return]
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype):
            if self.precision == "float16":
                return net(x).float()  # type: ignore[no-any-return]
            # bf16 for the stem and stages 1-3; the last stage and the pooling in float32 (fidelity)
            x = net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))))
        return torch.flatten(net.avgpool(net.layer4(x.float())), 1)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`_forward` on a batch already on the device, through torch.compile when asked and the
        batch is full (one compiled shape; a short last batch runs eagerly)."""
        import torch

        if self.backend == "onnx":
            self.onnx_model  # noqa: B018 - exported (with autograd available) before inference mode
            return self._forward(x)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.compile and x.shape[0] == self.batch_size:
                if self._compiled is None:
                    self._runner  # noqa: B018 - built (deep-copied) before tracing, not inside it
                    self._compiled = torch.compile(self._forward, dynamic=False, options={"freezing": True})
                try:
                    return self._compiled(x)
                except Exception as exc:  # no C++ compiler, unsupported platform, ...
                    warnings.warn(f"torch.compile failed ({exc!r:.200}); running eagerly", stacklevel=3)
                    self.compile = False  # for good: no second try
            return self._forward(x)

    def embed_batch(self, batch: torch.Tensor) -> torch.Tensor:
        """Preprocessed N×3×H×W tensors → N×D float32 vectors on the CPU."""
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise LookalikeError(f"expected a batch N×3×H×W, got {tuple(batch.shape)}")
        return self._run(batch.to(self.device, non_blocking=True)).float().cpu()

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

        Each batch covers the next ``batch_size`` paths: ``indices`` (ascending) are positions in
        ``paths``. Decoding runs in worker processes (overlapping inference) when there is enough work.
        """
        from torch.utils.data import DataLoader

        workers = num_workers if num_workers is not None else self.num_workers
        if workers is None:
            workers = 0 if len(paths) < 2 * self.batch_size else self._default_workers()
        cuda = self.device.type == "cuda"
        loader: DataLoader[Any] = DataLoader(
            _FileDataset(paths, self.geometry, self._draft, self.device_decode),  # type: ignore[arg-type]
            batch_size=self.batch_size,
            num_workers=workers,
            collate_fn=_collate,
            worker_init_fn=_worker_init if workers else None,
            pin_memory=cuda,
        )
        pending: tuple[EmbeddedBatch, Any] | None = None
        for indices, pixels, jpegs, failures in loader:
            batch = self._embed_loaded(paths, indices, pixels, _unpack(jpegs), failures)
            if pending is not None:  # on CUDA, hand out the previous batch while this one computes
                yield _finish(pending)
            pending = batch
        if pending is not None:
            yield _finish(pending)

    def _default_workers(self) -> int:
        cores = os.cpu_count() or 1
        return min(cores, 32) if self.device.type == "cuda" else max(1, cores // 2)

    def _embed_loaded(
        self,
        paths: Sequence[str | os.PathLike[str]],
        indices: list[int],
        pixels: torch.Tensor | None,
        jpegs: list[tuple[int, torch.Tensor]],
        failures: list[tuple[int, str]],
    ) -> tuple[EmbeddedBatch, Any]:
        """One loaded batch → its vectors, started; on CUDA they arrive with the returned event."""
        import torch

        failures = list(failures)
        parts = [] if pixels is None else [pixels.to(self.device, non_blocking=True)]
        if jpegs:
            decoded, done, failed = self._decode_jpegs(jpegs, paths)
            parts += decoded
            indices = indices + done
            failures += failed
        if not parts:
            return EmbeddedBatch([], torch.empty(0, self.dim), failures), None
        order = sorted(range(len(indices)), key=indices.__getitem__)
        u8 = torch.cat(parts)[order] if jpegs else parts[0]
        vectors = self._run(self.normalize(u8)).float()
        batch = EmbeddedBatch([indices[k] for k in order], vectors, sorted(failures))
        if self.device.type != "cuda":
            return batch, None
        batch.vectors = torch.empty(vectors.shape, pin_memory=True).copy_(vectors, non_blocking=True)
        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record()
        return batch, event

    def _decode_jpegs(
        self, jpegs: list[tuple[int, torch.Tensor]], paths: Sequence[str | os.PathLike[str]]
    ) -> tuple[list[torch.Tensor], list[int], list[tuple[int, str]]]:
        """JPEG bytes → resized, cropped uint8 batches on the device (one per image size), their indices,
        and failures. A file the device cannot decode gets a second chance with Pillow, which says why."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        def decode(data: Any) -> Any:
            with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders for TorchCodec's
                warnings.simplefilter("ignore", DeprecationWarning)
                return decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device)

        images: list[torch.Tensor | None]
        try:
            images = list(decode([d for _, d in jpegs]))
        except RuntimeError:  # one bad file fails the whole batch: decode one by one
            images = []
            for _, d in jpegs:
                try:
                    images.append(decode(d))
                except RuntimeError:
                    images.append(None)
        by_size: dict[tuple[int, ...], list[tuple[int, torch.Tensor]]] = {}
        retry: list[tuple[int, torch.Tensor]] = []
        failures: list[tuple[int, str]] = []
        for (i, _), img in zip(jpegs, images, strict=True):
            if img is not None:
                by_size.setdefault(tuple(img.shape), []).append((i, img))
                continue
            try:
                retry.append((i, self._pixels(paths[i]).to(self.device)))
            except ImageError as exc:
                failures.append((i, str(exc)))
        groups = [*by_size.values(), *([retry] if retry else [])]
        batches = [self.geometry(torch.stack([x for _, x in g])) for g in groups]
        return batches, [i for g in groups for i, _ in g], failures
