"""Device, precision, backend and engine choices."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import lookalike.features.devices as devices
import lookalike.features.embedder as embedder
from lookalike.errors import LookalikeError
from lookalike.features import Embedder, resolve_precision


def test_precision_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "float32"  # emulated bf16 is slower than float32
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bfloat16"
    assert resolve_precision("auto", "cuda") == "float16"
    assert resolve_precision("float32", "cpu") == "float32"  # on request, whatever the hardware
    assert Embedder("none", size=32, device="cpu", precision="float32").precision == "float32"
    with pytest.raises(LookalikeError, match="float16 is not supported on the CPU"):
        resolve_precision("float16", "cpu")
    with pytest.raises(LookalikeError, match="unknown precision"):
        resolve_precision("int8", "cpu")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "amx", "native"),
    [
        ({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"}, False, True),  # AMD Zen 4
        ({"avx2", "avx512f", "amx_tile", "amx_bf16", "amx_int8"}, False, True),  # Sapphire Rapids
        ({"avx2", "fma", "avx512f", "avx512_vnni"}, True, False),  # Xeon without BF16: flags decide
        ({"avx2", "fma"}, False, False),  # AVX2 only
        (set(), True, True),  # flags unreadable (not Linux): PyTorch's AMX report decides
        (set(), False, False),
    ],
)
def test_native_bf16_from_cpu_flags(
    monkeypatch: pytest.MonkeyPatch, flags: set[str], amx: bool, native: bool
) -> None:
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(devices, "cpu_has_amx", lambda: amx)
    assert devices.cpu_has_native_bf16() is native


def test_cpu_flags_read_from_proc_cpuinfo() -> None:
    flags = devices.cpu_flags()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        assert flags == frozenset()
        return
    line = next(x for x in text.splitlines() if x.startswith(("flags", "Features")))
    assert flags == frozenset(line.partition(":")[2].split()) and flags


def test_auto_engine_is_openvino_only_where_the_cpu_computes_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert devices.resolve_engine("auto") == "onnxruntime"
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    installed = importlib.util.find_spec("openvino") is not None
    assert devices.resolve_engine("auto") == ("openvino" if installed else "onnxruntime")
    assert devices.resolve_engine("onnxruntime") == "onnxruntime"  # on request, whatever the CPU
    with pytest.raises(LookalikeError, match="unknown engine 'tvm'"):
        devices.resolve_engine("tvm")  # type: ignore[arg-type]


def test_queries_run_in_float32_on_onnx_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "onnxruntime_available", lambda: True)
    assert devices.queries_in_float32("cpu")
    assert not devices.queries_in_float32("cpu", "torch")  # asked for PyTorch: its own precision
    assert not devices.queries_in_float32("cuda")
    monkeypatch.setattr(devices, "onnxruntime_available", lambda: False)
    assert not devices.queries_in_float32("cpu")


def test_defaults_by_device(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = Embedder("none", size=32, device="cpu")
    assert emb.batch_size == 64 and emb.device_decode is False and emb.compile is False
    monkeypatch.setattr(embedder.os, "cpu_count", lambda: 8)
    assert emb._default_workers() == 4
