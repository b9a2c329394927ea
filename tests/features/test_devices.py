"""Device, precision and backend choices."""

from __future__ import annotations

import pytest

import lookalike.features.devices as devices
import lookalike.features.embedder as embedder
from lookalike.errors import LookalikeError
from lookalike.features import Embedder, resolve_precision


def test_precision_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_has_amx", lambda: False)
    assert resolve_precision("auto", "cpu") == "float32"  # bf16 without AMX is slower than float32
    monkeypatch.setattr(devices, "cpu_has_amx", lambda: True)
    assert resolve_precision("auto", "cpu") == "bfloat16"
    assert resolve_precision("auto", "cuda") == "float16"
    assert resolve_precision("float32", "cpu") == "float32"  # on request, whatever the hardware
    assert Embedder("none", size=32, device="cpu", precision="float32").precision == "float32"
    with pytest.raises(LookalikeError, match="float16 is not supported on the CPU"):
        resolve_precision("float16", "cpu")
    with pytest.raises(LookalikeError, match="unknown precision"):
        resolve_precision("int8", "cpu")  # type: ignore[arg-type]


def test_defaults_by_device(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = Embedder("none", size=32, device="cpu")
    assert emb.batch_size == 64 and emb.device_decode is False and emb.compile is False
    monkeypatch.setattr(embedder.os, "cpu_count", lambda: 8)
    assert emb._default_workers() == 4
