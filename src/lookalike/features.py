"""Deep features: a ResNet with its classifier removed turns images into vectors.

:class:`Embedder` takes weights (a torchvision name, a file, or ``"none"``), reads the preprocessing from
their metadata, and embeds paths, PIL images or image tensors in batches on the best device, in a reduced
precision where the hardware runs it faster than float32 and ≥ 99 % of top-10 neighbours stay (float16 on
CUDA, bfloat16 on a CPU with AMX), float32 otherwise or on request.

The file pipeline (:meth:`Embedder.iter_files`) is one loop::

    worker processes: read file -> decode (Pillow, JPEG draft mode) -> resize + centre crop -> uint8
                      (on CUDA, ordinary JPEG files travel as bytes and are decoded by nvjpeg instead)
    main process:     uint8 batch -> device -> normalise -> ResNet (on the CPU in float32: ONNX Runtime,
                      lookalike.onnx_backend; else channels_last, in float32 with BatchNorm folded,
                      torch.compile'd if asked) -> float32 vectors
                      (on CUDA copied back asynchronously and handed out one batch behind)

so decoding overlaps inference, only a quarter of the bytes of float pixels cross between processes,
and each knob has a default chosen by device (see :class:`Embedder`).

>>> from lookalike.features import Embedder
>>> emb = Embedder("../shared/models/resnet18-cifar10.pt")  # doctest: +SKIP
>>> emb.embed(["cat.jpg", "dog.jpg"]).shape  # doctest: +SKIP
torch.Size([2, 512])
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lookalike.errors import ImageError, LookalikeError
from lookalike.images import load_image
from lookalike.models import ModelInfo, create_model, model_info, torchvision_info

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn

    from lookalike.onnx_backend import OnnxModel

Precision = Literal["auto", "float32", "bfloat16", "float16"]
Backend = Literal["auto", "onnx", "torch"]

# Pillow's JPEG draft mode (DCT-domain 1/2, 1/4, 1/8 scaling) may shrink a photo only down to this many
# times the resize size; the antialiased resize does the rest. Drafting down to the resize size itself
# sharpens the input enough to move neighbours: top-10 overlap with the lecture's full decode fell to
# 0.984 on 1024×768 photos and 0.982 on 2048×1536 with a trained stem; with 2× it is 1.0 and 0.9925
# (benchmarks/fidelity.py, RESULTS.md).
DRAFT_MARGIN = 2
# JPEG files go to nvjpeg when at least this large; thumbnails decode faster with Pillow in the workers,
# where nvjpeg's fixed cost per image dominates.
_DEVICE_DECODE_MIN_BYTES = 16 * 1024
_JPEG_START, _JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"


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


def resolve_backend(backend: Backend, device: str, precision: str, *, compile: bool = False) -> str:
    """Pick what runs the network: ``onnx`` (ONNX Runtime) or ``torch``.

    ``auto`` is ONNX Runtime on the CPU in float32 (1.4–2× faster than eager PyTorch there, same vectors
    to float rounding; benchmarks/RESULTS.md) and PyTorch on CUDA, in bf16/fp16, or with ``compile``.
    ``precision`` is the resolved one (see :func:`resolve_precision`).
    """
    import torch

    from lookalike.onnx_backend import onnxruntime_available

    if backend not in ("auto", "onnx", "torch"):
        raise LookalikeError(f"unknown backend {backend!r}; choose auto, onnx or torch")
    if backend == "torch":
        return "torch"
    cpu = torch.device(device).type == "cpu"
    if backend == "onnx":
        if not cpu:
            raise LookalikeError("--backend onnx runs on the CPU; pass --device cpu or --backend torch")
        if precision != "float32":
            raise LookalikeError(
                f"--backend onnx computes in float32, not {precision}; pass --precision float32 or "
                "--backend torch"
            )
        if compile:
            raise LookalikeError("--compile needs --backend torch")
        if not onnxruntime_available():
            raise LookalikeError("onnxruntime is not installed: pip install onnxruntime, or --backend torch")
        return "onnx"
    return "onnx" if cpu and precision == "float32" and not compile and onnxruntime_available() else "torch"


def preprocess_info(info: ModelInfo, size: int | None) -> ModelInfo:
    """``info`` with its input size overridden to ``size`` (the resize scales with it)."""
    if size is None or size == info.crop_size:
        return info
    if size < 8:
        raise LookalikeError(f"--size {size} is too small; use at least 8 pixels")
    resize = round(size * info.resize_size / info.crop_size)
    return replace(info, crop_size=size, resize_size=resize)


def build_geometry(info: ModelInfo) -> Callable[[Any], torch.Tensor]:
    """The geometric half of the preprocessing: resize the shorter side, centre-crop; uint8 stays uint8.

    Takes a PIL image or a C×H×W (or N×C×H×W) tensor, returns a plain tensor of the same dtype. Steps
    with nothing to do are skipped (a 32×32 CIFAR image for a 32-pixel model costs no resampling).
    """
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional

    interpolation = InterpolationMode(info.interpolation)
    resize, crop = info.resize_size, info.crop_size

    def geometry(image: Any) -> torch.Tensor:
        if isinstance(image, Image.Image):
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            image = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)
        x: torch.Tensor = image.as_subclass(torch.Tensor)
        if min(x.shape[-2:]) != resize:
            x = functional.resize(x, [resize], interpolation=interpolation, antialias=True)
        if tuple(x.shape[-2:]) != (crop, crop):
            x = functional.center_crop(x, [crop])
        return x

    return geometry


def build_normalize(info: ModelInfo) -> Callable[[torch.Tensor], torch.Tensor]:
    """The value half: uint8 (or [0, 1] float) image or batch → float32 normalised with the weights'
    mean and std. Elementwise, so a batch gets exactly the values its images get one by one.
    """
    import torch
    from torchvision.transforms.v2 import functional

    mean, std = list(info.mean), list(info.std)

    def normalize(x: torch.Tensor) -> torch.Tensor:
        x = functional.to_dtype(x.as_subclass(torch.Tensor), torch.float32, scale=True)
        out: torch.Tensor = functional.normalize(x, mean, std)
        return out

    return normalize


def build_transform(info: ModelInfo) -> Callable[[Any], torch.Tensor]:
    """The preprocessing that ``info`` prescribes: resize the shorter side, centre-crop, scale to [0, 1],
    normalise with the weights' mean and std. Works on PIL images and on uint8 or [0, 1] float tensors.
    """
    geometry, normalize = build_geometry(info), build_normalize(info)

    def transform(image: Any) -> torch.Tensor:
        return normalize(geometry(image))

    return transform


@dataclass
class EmbeddedBatch:
    """One batch from :meth:`Embedder.iter_files`: vectors for ``indices``, failures as (index, reason)."""

    indices: list[int]
    vectors: torch.Tensor
    failures: list[tuple[int, str]]


# One file as a worker hands it over: (index, uint8 pixels, JPEG bytes for the device, error).
_Item = tuple[int, "torch.Tensor | None", "torch.Tensor | None", "str | None"]


class _FileDataset:
    """Reads, decodes and crops files in DataLoader workers; a bad file yields its error, not an exception.

    With ``device_jpegs``, ordinary JPEG files are read but not decoded: their bytes go to the device.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        geometry: Callable[[Any], torch.Tensor],
        draft: tuple[int, int] | None,
        device_jpegs: bool = False,
    ) -> None:
        self.paths, self.geometry, self.draft, self.device_jpegs = paths, geometry, draft, device_jpegs

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> _Item:
        try:
            if self.device_jpegs and (data := _device_jpeg(self.paths[i])) is not None:
                return i, None, data, None
            return i, self.geometry(load_image(self.paths[i], draft=self.draft)), None, None
        except ImageError as exc:
            return i, None, None, str(exc)


def _device_jpeg(path: str | os.PathLike[str]) -> torch.Tensor | None:
    """The bytes of an ordinary JPEG file, for decoding on the device; ``None`` for anything else.

    Ordinary: large enough to be worth it, complete (ends with the EOI marker), RGB or grey, upright (EXIF
    orientation 1) and within the pixel limit. Everything else, bad files included, goes to Pillow via
    :func:`load_image`, which applies every rule and words every error.
    """
    import torch
    from PIL import Image

    from lookalike.images import _pixel_limit

    try:
        data = Path(path).read_bytes()
        if (
            len(data) < _DEVICE_DECODE_MIN_BYTES
            or not data.startswith(_JPEG_START)
            or not data.rstrip(b"\0").endswith(_JPEG_END)
        ):
            return None
        limit = _pixel_limit(None)[0]
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
            width, height = img.size
            if img.mode not in ("RGB", "L") or (limit is not None and width * height > limit):
                return None
            if img.getexif().get(0x0112, 1) != 1:
                return None
    except Exception:  # unreadable or damaged: load_image says why
        return None
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def _collate(items: list[_Item]) -> tuple[list[int], Any, Any, list[tuple[int, str]]]:
    """Decoded pixels stacked into one uint8 tensor, JPEG bytes packed into another (one shared-memory
    block each per batch, whatever the batch size), failures listed."""
    import torch

    pixels = [(i, x) for i, x, _, _ in items if x is not None]
    jpegs = [(i, b) for i, _, b, _ in items if b is not None]
    failures = [(i, err) for i, x, b, err in items if err is not None]
    stacked = torch.stack([x for _, x in pixels]) if pixels else None
    packed = (torch.cat([b for _, b in jpegs]), [(i, len(b)) for i, b in jpegs]) if jpegs else None
    return [i for i, _ in pixels], stacked, packed, failures


def _unpack(packed: tuple[torch.Tensor, list[tuple[int, int]]] | None) -> list[tuple[int, torch.Tensor]]:
    """(index, bytes) pairs back from :func:`_collate`'s packing (views, no copies)."""
    if packed is None:
        return []
    import torch

    data, sizes = packed
    views = torch.split(data, [n for _, n in sizes])
    return list(zip([i for i, _ in sizes], views, strict=True))


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


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
    input size into the user cache (:func:`lookalike.onnx_backend.cache_dir`), or where
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
                "--device cuda was asked for but no CUDA device is visible; use --device cpu"
            )
        self.precision = resolve_precision(precision, str(self.device))
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
        from lookalike.onnx_backend import cached_path, ensure_model

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


def _finish(pending: tuple[EmbeddedBatch, Any]) -> EmbeddedBatch:
    """The batch once its vectors have arrived on the CPU (``event`` is a CUDA event or ``None``)."""
    batch, event = pending
    if event is not None:
        event.synchronize()
    return batch
