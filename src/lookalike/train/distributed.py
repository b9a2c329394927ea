"""Several processes under ``torchrun``: the process group (:func:`_setup_distributed`), barriers, and the
weight digests that show the replicas ended identical."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lookalike.errors import LookalikeError

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class _Dist:
    rank: int
    world: int
    device: torch.device
    backend: str | None
    owned: bool  # this module initialised the process group (and tears it down)

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: str | None) -> _Dist:
    """Read torchrun's environment; initialise the process group (nccl on CUDA, gloo on CPU) if needed."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is not None and device.startswith("cuda") and not torch.cuda.is_available():
        raise LookalikeError(
            f"device {device!r} was asked for but no CUDA device is visible", "pass `device='cpu'`"
        )
    if world <= 1:
        return _Dist(
            0, 1, torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")), None, False
        )
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), dev, dist.get_backend(), owned)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer's bytes (by name): equal digests mean identical weights."""
    import torch

    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _barrier(dist: _Dist) -> None:
    if dist.world > 1:
        import torch.distributed

        torch.distributed.barrier()


def _tear_down() -> None:
    """Destroy the process group this module made, once nothing holds it: a DDP wrapper caught in a
    reference cycle would keep gloo's threads running until interpreter exit, where they abort it
    ("terminate called without an active exception")."""
    import gc

    import torch.distributed

    gc.collect()
    torch.distributed.destroy_process_group()
