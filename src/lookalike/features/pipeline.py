"""The file pipeline's pieces: worker-side reading and decoding, batching, and device JPEG bytes."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError
from lookalike.images import _pixel_limit, load_image, needs_colour_conversion

if TYPE_CHECKING:
    import torch

# JPEG files go to nvjpeg when at least this large; thumbnails decode faster with Pillow in the workers,
# where nvjpeg's fixed cost per image dominates.
_DEVICE_DECODE_MIN_BYTES = 16 * 1024
_JPEG_START, _JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"


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
    orientation 1), in sRGB (no other ICC profile: a phone's Display P3 photo is converted by Pillow) and
    within the pixel limit. Everything else, bad files included, goes to Pillow via
    :func:`load_image`, which applies every rule and words every error.
    """
    import torch
    from PIL import Image

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
            if img.getexif().get(0x0112, 1) != 1 or needs_colour_conversion(img):
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


def _finish(pending: tuple[EmbeddedBatch, Any]) -> EmbeddedBatch:
    """The batch once its vectors have arrived on the CPU (``event`` is a CUDA event or ``None``)."""
    batch, event = pending
    if event is not None:
        event.synchronize()
    return batch
