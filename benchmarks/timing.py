"""Small timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Hashable, TypeVar

import torch


K = TypeVar("K", bound=Hashable)


def interleaved_medians(fns: dict[K, Callable[[], object]], runs: int, warmup: int = 1) -> dict[K, float]:
    """Median seconds of each callable, timed in turn within every round, so that a machine whose
    speed drifts (a shared VM) slows all of them alike and their ratios stay fair."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[K, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def peak_rss_of(code: str) -> float:
    """Run `code` in a fresh Python and return its peak resident memory in GiB."""
    probe = code + "\nimport resource, sys\nsys.stdout.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024 / 1024


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{cpu}, {threads} threads, torch {torch.__version__}, Python {platform.python_version()}"
