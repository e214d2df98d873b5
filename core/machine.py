"""What machine a figure came from: the CPU's name and the instruction sets that decide its speed.

These machines change from one run to the next (an Intel Xeon with VNNI, an AMD EPYC, a Xeon with
AMX), so every benchmark and evaluation records this, and every view shows it beside the number.
Reading /proc/cpuinfo is cheap and imports nothing; OpenVINO's own view of the device is added
where OpenVINO is loaded anyway.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

__all__ = ["ISA_FLAGS", "cpu_info", "isa_text", "machine_text"]

# The flags that decide which kernels OpenVINO and ONNX Runtime can use, with their display names.
ISA_FLAGS = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX512-BF16",
    "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
    "avx512_fp16": "AVX512-FP16",
}


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    """{'brand', 'cores', 'isa': [display names present], 'flags': [raw flags present]} of this CPU."""
    brand, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            brand = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    present = [name for name in ISA_FLAGS if name in flags]
    return {
        "brand": " ".join(brand.split()),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "isa": [ISA_FLAGS[name] for name in present],
        "flags": present,
    }


def isa_text(info: dict | None = None) -> str:
    """'AVX2, AVX-512, AVX512-VNNI' (or 'no AVX2' on an old CPU)."""
    info = info or cpu_info()
    return ", ".join(info.get("isa") or []) or "no AVX2"


def machine_text(info: dict | None = None) -> str:
    """'AMD EPYC (2 cores; AVX2, AVX-512)': the CPU a figure came from, in one phrase."""
    info = info or cpu_info()
    cores = info.get("cores")
    return f"{info.get('brand') or 'unknown CPU'} ({cores} cores; {isa_text(info)})"
