"""What every number in RESULTS.md is written beside: the CPU model, the instruction-set flags that decide
its speed (AVX2, AVX-512, VNNI, BF16, AMX), the core count and the load average. One reading of
``/proc/cpuinfo`` for all benchmarks; and :func:`print_result`, the JSON a benchmark ends with."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info() -> dict[str, Any]:
    """``{"cpu", "flags", "cores", "load_average"}``: the model name and those of :data:`FLAGS` it has."""
    model, flags = "", set()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name") and not model:
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "flags": [f for f in FLAGS if f in flags],
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_line() -> str:
    """The same in one line: ``AMD EPYC × 2 cores (avx2 fma avx512f …)``."""
    info = cpu_info()
    return f"{info['cpu']} × {info['cores']} cores ({' '.join(info['flags']) or 'no AVX2'})"


def print_result(result: dict[str, Any], out: Path | None) -> None:
    """Print ``result`` as indented JSON, and write it to ``out`` (with a final newline) if given."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")
