"""DistributedDataParallel: two processes on the CPU with gloo end identical, and only rank 0 writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from shared_data import needs_cifar

pytestmark = needs_cifar


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_with_gloo_end_identical_and_only_rank_0_writes(
    tree: Path, tmp_path: Path, cache_dir: Path
) -> None:
    """Two ``python -m lookalike train`` processes with the environment torchrun gives its workers."""
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": "2",
            "OMP_NUM_THREADS": "1",
            "LOOKALIKE_CACHE": str(cache_dir),
        }
        # each rank gets its own --runs-dir: a folder appearing under rank 1's would be a write by rank 1
        args = [
            sys.executable,
            "-m",
            "lookalike",
            "train",
            "--data",
            str(tree),
            "--limit",
            "32",
            "--val-split",
            "0.25",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--runs-dir",
            str(tmp_path / f"runs{rank}"),
            "--name",
            "ddp",
            "--json",
        ]
        procs.append(
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, errors) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, errors[-3000:]
    assert outputs[1][0].strip() == "" and not (tmp_path / "runs1").exists()
    summary = json.loads((tmp_path / "runs0" / "ddp" / "metrics.json").read_text())
    ddp = summary["distributed"]
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    assert len(ddp["weights_sha256"]) == 2 and ddp["replicas_identical"]
    assert len(set(ddp["weights_sha256"])) == 1
    assert summary["data"]["train_images"] + summary["data"]["val_images"] == 32
    assert summary["epochs"][0]["train_acc"] is not None and summary["epochs"][0]["val_acc"] is not None
    assert json.loads(outputs[0][0])["weights_sha256"] == ddp["weights_sha256"]
