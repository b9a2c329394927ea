"""The onnx backend: the feature extractor exported once to an ONNX file, run without torch.

On a CPU, ONNX Runtime runs the same ResNet as PyTorch 1.4–2× faster with the same float32 vectors
(benchmarks/RESULTS.md), and ``import onnxruntime`` costs a fraction of ``import torch``. So:

* :func:`export` writes a network (classifier removed) as an ONNX file whose metadata records what made
  it and how to preprocess for it (:func:`metadata`); written beside the target and renamed over it, so
  a reader never sees half a file;
* :func:`ensure_model` returns a usable :class:`OnnxModel` for a description of the weights, exporting
  (with torch) only when the file is missing, unreadable or made for other weights — each rebuild says
  so in one line on stderr;
* :class:`OnnxModel` embeds image files and PIL images with Pillow decoding, the NumPy preprocessing of
  :mod:`lookalike.features.transforms_numpy` and an engine — ONNX Runtime, or OpenVINO in bf16 for queries
  (:func:`lookalike.features.devices.resolve_engine`): nothing on this path imports torch.

Where the files live: an index keeps its own copy (``<index>/model.onnx``, so that a copied index can be
queried elsewhere); everything else under :func:`cache_dir`, one file per weights fingerprint, model and
input size.

>>> from lookalike.features.onnx import OnnxModel
>>> model = OnnxModel("photos/.lookalike/model.onnx")  # doctest: +SKIP
>>> model.embed(["cat.jpg"]).shape  # doctest: +SKIP
(1, 512)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lookalike.errors import LookalikeError
from lookalike.features.devices import Engine, onnxruntime_available, resolve_engine
from lookalike.features.openvino import OpenVinoBf16
from lookalike.features.transforms import DRAFT_MARGIN
from lookalike.features.transforms_numpy import geometry, normalize
from lookalike.files import atomic_write
from lookalike.images import load_image

if TYPE_CHECKING:
    from PIL import Image
    from torch import nn

__all__ = [
    "INDEX_MODEL_NAME",
    "OnnxModel",
    "cache_dir",
    "cached_path",
    "ensure_model",
    "export",
    "find_cached",
    "metadata",
    "onnxruntime_available",
]

#: The file name of an index's own copy of its model.
INDEX_MODEL_NAME = "model.onnx"
FORMAT = "lookalike-onnx"
FORMAT_VERSION = 1
INPUT_NAME, OUTPUT_NAME = "pixels", "features"
OPSET = 17
# What a model file must agree on with the weights asked for (the preprocessing included).
SAME_MODEL = (
    "model",
    "cifar_stem",
    "fingerprint",
    "dim",
    "crop_size",
    "resize_size",
    "mean",
    "std",
    "interpolation",
)

F32 = npt.NDArray[np.float32]


class ModelFileError(LookalikeError):
    """An ONNX model file that cannot be used: unreadable, damaged, or not written by lookalike."""


def cache_dir() -> Path:
    """Where exported models live when no index holds them: ``$LOOKALIKE_CACHE``, else
    ``$XDG_CACHE_HOME/lookalike``, else ``~/.cache/lookalike``; models go in its ``onnx`` folder."""
    base = os.environ.get("LOOKALIKE_CACHE")
    if base:
        return Path(base).expanduser() / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "lookalike" / "onnx"


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def cached_path(description: Mapping[str, Any]) -> Path:
    """The cache file for a model description: one per weights fingerprint, model and input size, named
    so that :func:`find_cached` finds it from the fingerprint alone."""
    key = json.dumps({k: description.get(k) for k in SAME_MODEL}, sort_keys=True)
    stem = "-cifar" if description.get("cifar_stem") else ""
    name = f"{description['model']}{stem}-{description['crop_size']}px"
    return cache_dir() / f"{_digest(str(description['fingerprint']), 16)}-{name}-{_digest(key, 8)}.onnx"


def find_cached(
    fingerprint: str, *, model: str | None = None, size: int | None = None, threads: int | None = None
) -> OnnxModel | None:
    """A cached export of the weights with this ``fingerprint`` (``model`` and input ``size`` as asked;
    ``size=None`` means the weights' own), or ``None``. Never exports, never imports torch."""
    if not onnxruntime_available():
        return None
    for path in sorted(cache_dir().glob(f"{_digest(fingerprint, 16)}-*.onnx")):
        try:
            found = OnnxModel(path, threads=threads)
        except ModelFileError:
            continue
        d = found.description
        own_size = d.get("weights_crop_size") == d.get("crop_size")
        if (
            d.get("fingerprint") == fingerprint
            and (model is None or d.get("model") == model)
            and (own_size if size is None else d.get("crop_size") == size)
        ):
            return found
    return None


def metadata(description: Mapping[str, Any]) -> dict[str, str]:
    """The metadata an exported file carries: ``lookalike`` (JSON: what made it, for lookalike) and, for
    any other reader, the preprocessing as plain entries.

    Input ``pixels``: N×3×crop×crop float32 RGB, made by resizing the shorter side to ``resize_size``
    (``interpolation``, antialiased), centre-cropping to ``crop_size``, scaling to [0, 1] and
    normalising with ``mean`` and ``std``. Output ``features``: N×dim float32, not normalised.
    """
    d = {k: description.get(k) for k in SAME_MODEL}
    d["weights"] = description.get("weights")
    d["weights_crop_size"] = description.get("weights_crop_size")  # the size the weights were made for
    return {
        "lookalike": json.dumps({"format": FORMAT, "version": FORMAT_VERSION, **d}),
        "input": f"{INPUT_NAME}: N×3×{d['crop_size']}×{d['crop_size']} float32, RGB",
        "preprocessing": (
            f"resize shorter side to {d['resize_size']} ({d['interpolation']}, antialiased), centre-crop "
            f"{d['crop_size']}, scale to [0, 1], normalise with mean and std"
        ),
        "resize_size": str(d["resize_size"]),
        "crop_size": str(d["crop_size"]),
        "interpolation": str(d["interpolation"]),
        "mean": json.dumps(d["mean"]),
        "std": json.dumps(d["std"]),
        "output": f"{OUTPUT_NAME}: N×{d['dim']} float32 (pooled features, not normalised)",
    }


def export_bytes(net: nn.Module, description: Mapping[str, Any]) -> bytes:
    """``net`` (classifier removed, float32) as ONNX bytes with :func:`metadata`; needs torch and onnx.

    The batch axis is dynamic; the input size is ``description["crop_size"]``.
    """
    import copy
    import io
    import warnings

    import onnx
    import torch

    crop = int(description["crop_size"])
    model = copy.deepcopy(net).float().cpu().eval()
    model = model.to(memory_format=torch.contiguous_format)
    buffer = io.BytesIO()  # not a temporary file: nothing to clean up, nothing left behind
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, crop, crop),),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects too
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    del proto.metadata_props[:]
    for key, value in metadata(description).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "lookalike"
    data: bytes = proto.SerializeToString()
    return data


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`lookalike.files.atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def export(net: nn.Module, description: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Export ``net`` to ``path`` atomically (see :func:`export_bytes`)."""
    return write_atomic(Path(path), export_bytes(net, description))


def same_model(found: Mapping[str, Any], asked: Mapping[str, Any]) -> bool:
    """Whether a model file described by ``found`` makes the vectors ``asked`` describes."""

    def norm(v: Any) -> Any:
        return [float(x) for x in v] if isinstance(v, (list, tuple)) else v

    return all(norm(found.get(k)) == norm(asked.get(k)) for k in SAME_MODEL)


def _notice(message: str) -> None:
    sys.stderr.write(f"lookalike: {message}\n")
    sys.stderr.flush()


def ensure_model(
    path: str | os.PathLike[str] | None,
    description: Mapping[str, Any],
    make_net: Callable[[], nn.Module],
    *,
    threads: int | None = None,
    notice: Callable[[str], None] = _notice,
) -> OnnxModel:
    """An :class:`OnnxModel` for ``description`` from ``path``, exported from ``make_net()`` first if the
    file is missing, damaged or made for other weights (one line through ``notice`` says which).
    ``path=None`` keeps the export in memory (random weights: nothing to find again).
    """
    if path is None:
        return OnnxModel(export_bytes(make_net(), description), threads=threads)
    target = Path(path)
    why = "exporting the model to ONNX once"
    if target.is_file():
        try:
            model = OnnxModel(target, threads=threads)
            if same_model(model.description, description):
                return model
            why = f"{target} was made for other weights or preprocessing; exporting the model again"
        except ModelFileError as exc:
            why = f"{exc}; exporting it again"
    net = make_net()  # the weights first: a download that fails offline says so before any "exporting"
    notice(f"{why} ({target})" if why.startswith("exporting") else why)
    data = export_bytes(net, description)
    try:
        write_atomic(target, data)
    except OSError as exc:  # a read-only index or cache: run it from memory this time
        notice(f"cannot write {target} ({exc.strerror or exc}); using the export from memory")
        return OnnxModel(data, threads=threads)
    return OnnxModel(target, threads=threads)


def find_model(
    path: str | os.PathLike[str],
    description: Mapping[str, Any],
    *,
    threads: int | None = None,
    engine: Engine = "onnxruntime",
) -> OnnxModel | None:
    """The model in ``path`` if it exists, loads, and makes the vectors ``description`` describes; else
    ``None`` (never exports, never imports torch). ``engine`` as for :class:`OnnxModel`."""
    target = Path(path)
    if not target.is_file() or not onnxruntime_available():
        return None
    try:
        model = OnnxModel(target, threads=threads, engine=engine)
    except ModelFileError:
        return None
    return model if same_model(model.description, description) else None


class OnnxModel:
    """An exported feature extractor run on the CPU by an engine, with its preprocessing in NumPy.

    ``source`` is a file written by :func:`export` (or its bytes). ``threads`` is the engine's thread count
    (default: one per physical core). ``engine`` runs it, chosen once, here: ONNX Runtime in float32 (the
    default), or OpenVINO in bf16 for queries (``"openvino"``, or ``"auto"`` where the CPU computes bf16 in
    hardware and OpenVINO is installed: :func:`~lookalike.features.devices.resolve_engine`; a file only, not
    bytes); :attr:`engine` says which runs. Raises :class:`ModelFileError` for a file that is unreadable,
    damaged or not lookalike's.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        threads: int | None = None,
        engine: Engine = "onnxruntime",
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        where = "the exported model" if isinstance(source, bytes) else str(source)
        try:
            loaded = source if isinstance(source, bytes) else os.fspath(source)
            self.session = ort.InferenceSession(loaded, options, providers=["CPUExecutionProvider"])
            raw = self.session.get_modelmeta().custom_metadata_map.get("lookalike", "")
            description = json.loads(raw) if raw else None
        except Exception as exc:  # ORT raises its own types (InvalidProtobuf, Fail, ...) for bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{where} is not a readable ONNX model ({first[:160]})") from None
        if not isinstance(description, dict) or description.get("format") != FORMAT:
            raise ModelFileError(f"{where} was not exported by lookalike (no lookalike metadata in it)")
        if int(description.get("version", 0)) > FORMAT_VERSION:
            raise ModelFileError(f"{where} was written by a newer lookalike; upgrade lookalike")
        self.source = where
        self.description: dict[str, Any] = description
        self.engine = "onnxruntime"
        self._run: Callable[[F32], F32] = self._onnxruntime
        if not isinstance(source, bytes) and resolve_engine(engine) == "openvino":
            try:
                self._run = OpenVinoBf16(source, threads=threads)
                self.engine = "openvino"
            except Exception as exc:  # OpenVINO raises its own types; ONNX Runtime still runs the file
                _notice(f"OpenVINO cannot run {where} ({str(exc).strip()[:160]}); using ONNX Runtime")

    @property
    def dim(self) -> int:
        return int(self.description["dim"])

    @property
    def crop_size(self) -> int:
        return int(self.description["crop_size"])

    @property
    def resize_size(self) -> int:
        return int(self.description["resize_size"])

    def run(self, pixels: F32) -> F32:
        """Normalised N×3×H×W float32 → N×dim float32 vectors."""
        if pixels.ndim != 4 or pixels.shape[1:] != (3, self.crop_size, self.crop_size):
            raise LookalikeError(
                f"expected a batch N×3×{self.crop_size}×{self.crop_size}, got {tuple(pixels.shape)}"
            )
        return self._run(np.ascontiguousarray(pixels, dtype=np.float32))

    def _onnxruntime(self, pixels: F32) -> F32:
        out: F32 = self.session.run([OUTPUT_NAME], {INPUT_NAME: pixels})[0]
        return out

    def pixels(self, image: str | os.PathLike[str] | Image.Image) -> npt.NDArray[np.uint8]:
        """One image file or PIL image → resized and centre-cropped H×W×3 uint8, as the torch path does
        (JPEG draft mode down to twice the resize size, then an antialiased resize)."""
        d = self.description
        if isinstance(image, (str, os.PathLike)):
            side = DRAFT_MARGIN * self.resize_size
            image = load_image(image, draft=(side, side))
        return geometry(
            image, resize=self.resize_size, crop=self.crop_size, interpolation=str(d["interpolation"])
        )

    def preprocess(self, image: str | os.PathLike[str] | Image.Image) -> F32:
        """One image → normalised 3×H×W float32, the network's input."""
        return normalize(self.pixels(image), self.description["mean"], self.description["std"])

    def embed(self, images: Sequence[str | os.PathLike[str] | Image.Image], *, batch_size: int = 64) -> F32:
        """Image files or PIL images → N×dim float32 vectors. A bad file raises ImageError."""
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            part = images[start : start + batch_size]
            batch = np.stack([self.pixels(x) for x in part])
            out[start : start + len(part)] = self.run(
                normalize(batch, self.description["mean"], self.description["std"])
            )
        return out
