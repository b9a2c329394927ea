"""Training batches: the whole split resident on the device as uint8, shuffled and augmented per image
in one batched gather (:class:`DeviceBatches`), or per-image CPU transforms (:class:`PerImageDataset`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from lookalike.data.imageset import FlipMode
from lookalike.errors import DataError

if TYPE_CHECKING:
    import torch


def mix_seed(*parts: int) -> int:
    """A 63-bit generator seed from integers (same on every machine and process, unlike ``hash(str)``)."""
    h = hashlib.sha256(b"".join(int(p).to_bytes(8, "little", signed=True) for p in parts)).digest()
    return int.from_bytes(h[:8], "little") & (2**63 - 1)


def normalize(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, channels_last: bool = False
) -> torch.Tensor:
    """uint8 N×3×H×W → float32 ``(x/255 - mean) / std`` on the images' device."""
    import torch

    m = torch.tensor(mean, device=images.device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=torch.float32).view(1, 3, 1, 1)
    x = images.to(torch.float32).mul_(1.0 / 255.0).sub_(m).div_(s)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def crop_flip(images: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Translate each image by ``shifts[i] - pad`` pixels (dy, dx) with reflected borders — a random crop of
    the reflect-padded image — and mirror it where ``flips[i]``: one gather for the whole batch.

    ``images`` N×C×H×W (any dtype), ``shifts`` N×2 integers in ``[0, 2·pad]``, ``flips`` N bools.
    """
    import torch

    n, _, h, w = images.shape
    dev = images.device
    rows = shifts[:, 0:1].to(dev) - pad + torch.arange(h, device=dev)  # N×H source rows
    cols = shifts[:, 1:2].to(dev) - pad + torch.arange(w, device=dev)  # N×W source cols
    cols = torch.where(flips.to(dev)[:, None], cols.flip(1), cols)
    rows = _reflect(rows, h)
    cols = _reflect(cols, w)
    batch = torch.arange(n, device=dev)[:, None, None]
    out = images[batch, :, rows[:, :, None], cols[:, None, :]]  # N×H×W×C (advanced indices first)
    return out.permute(0, 3, 1, 2)


def _reflect(index: torch.Tensor, n: int) -> torch.Tensor:
    """Reflect out-of-range indices as ``F.pad(mode="reflect")`` does (edge not repeated)."""
    import torch

    index = index.abs()
    return torch.where(index >= n, 2 * (n - 1) - index, index)


class DeviceBatches:
    """The training split resident on ``device`` as uint8, served as normalised, augmented batches.

    Every epoch draws one permutation and one crop offset per image from generators seeded by
    ``(seed, epoch)`` on the CPU, so a run is reproducible on any device, a resumed run sees the same
    batches as an uninterrupted one, and all DistributedDataParallel replicas agree. Each step takes
    ``batch_size`` images of the permutation (all processes together); process ``rank`` of ``world``
    gets its contiguous ``batch_size / world`` share, as ``DistributedSampler`` would. The last partial
    batch is dropped (fixed shapes: no recompilation under ``torch.compile``).

    ``flip``: ``"random"`` mirrors each image with probability ½ every epoch; ``"alternate"`` mirrors a
    fixed random half on even epochs and the other half on odd ones (airbench's alternating flip: every
    image is seen both ways every two epochs, with less redundancy than independent coin flips).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str,
        seed: int,
        pad: int = 0,
        flip: FlipMode = "none",
        channels_last: bool = False,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        import torch

        if batch_size % world:
            raise DataError(f"batch size {batch_size} must divide evenly over {world} processes")
        self.device = torch.device(device)
        self.images = images.to(self.device, non_blocking=True)
        self.labels = labels.to(self.device, non_blocking=True)
        self.batch_size, self.mean, self.std, self.seed = batch_size, tuple(mean), tuple(std), seed
        self.pad, self.flip, self.channels_last = pad, flip, channels_last
        self.rank, self.world = rank, world
        g = torch.Generator().manual_seed(mix_seed(seed, -1, 3))
        self._flip_base = torch.rand(len(labels), generator=g) < 0.5

    def __len__(self) -> int:
        """Optimizer steps per epoch."""
        return len(self.labels) // self.batch_size

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch`` (0-based) for this process: (normalised float images, labels)."""
        import torch

        n = len(self.labels)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(mix_seed(self.seed, epoch, 0)))
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 1))
        shifts = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=g)
        if self.flip == "random":
            flips = torch.rand(n, generator=g) < 0.5
        elif self.flip == "alternate":
            flips = self._flip_base ^ bool(epoch % 2)
        else:
            flips = torch.zeros(n, dtype=torch.bool)
        perm_d = perm.to(self.device)
        shifts_d, flips_d = shifts.to(self.device), flips.to(self.device)
        share = self.batch_size // self.world
        for step in range(len(self)):
            lo = step * self.batch_size + self.rank * share
            idx = perm_d[lo : lo + share]
            x = self.images[idx]
            if self.pad or self.flip != "none":
                x = crop_flip(x, shifts_d[idx], flips_d[idx], self.pad)
            yield normalize(x, self.mean, self.std, channels_last=self.channels_last), self.labels[idx]


class PerImageDataset:
    """The lecture's input pipeline: each image becomes a PIL image, then ``ToTensor`` + ``Normalize`` on the
    CPU, one at a time, in DataLoader workers (what ``torchvision.datasets.CIFAR10(transform=…)`` does)."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float]
    ) -> None:
        from torchvision import transforms

        self.hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
        self.labels = labels.tolist()
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize(list(mean), list(std))]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.hwc[i])), self.labels[i]
