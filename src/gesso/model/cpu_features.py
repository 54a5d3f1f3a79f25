"""What the CPU computes in hardware, read from the kernel: the basis of every precision choice
(serving in engine/precision.py, training's `mixed_precision: auto`)."""

from __future__ import annotations

from pathlib import Path

import torch

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags the kernel reports for the first CPU (empty where unreadable)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(flags: frozenset[str]) -> bool:
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def training_precision(setting: str, flags: frozenset[str] | None = None) -> str:
    """accelerate's `mixed_precision` for a run config's setting: "auto" means bf16 on CUDA and on
    a CPU with native bf16, and none ("no") where bf16 would be emulated, several times slower."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16"
    return "bf16" if native_bf16(cpu_flags() if flags is None else flags) else "no"
