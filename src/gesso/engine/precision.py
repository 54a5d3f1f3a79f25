"""How the denoiser computes on this machine, decided once per pipeline load and logged.

CUDA: half-precision weights. CPU: fp32 weights, with bf16 autocast from a guided batch size up
only where the CPU computes bf16 in hardware (AMX or AVX512-BF16) and a short calibration measured
bf16 faster from that size on. Where bf16 is emulated (AVX2 only) it runs several times slower
than fp32 at every batch size, so such a CPU never uses it unless the operator forces it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from gesso.model.cpu_features import cpu_flags, native_bf16

log = logging.getLogger("gesso.engine")

CPU_PRECISIONS = ("auto", "fp32", "bf16")
CALIBRATION_BATCHES = (2, 4, 8, 16, 32)
# bf16 must beat fp32 by this fraction to be chosen: a tie on a noisy shared machine keeps fp32.
CALIBRATION_MARGIN = 0.05


@dataclass(frozen=True)
class PrecisionPlan:
    weights: torch.dtype
    bf16_from_batch: int | None  # CPU: bf16 autocast from this guided batch size up; None: never
    reason: str


def plan_precision(
    device: torch.device,
    setting: str,
    flags: frozenset[str],
    calibrate: Callable[[], int | None],
) -> PrecisionPlan:
    """The plan for `device` under the `cpu_precision` setting (auto | fp32 | bf16).

    `calibrate` measures the smallest guided batch from which bf16 is faster (None: at no size);
    it is called only for `auto` on a CPU with native bf16. Raises ValueError for an unknown setting.
    """
    if setting not in CPU_PRECISIONS:
        raise ValueError(f"cpu_precision must be one of {', '.join(CPU_PRECISIONS)}, not {setting!r}")
    if device.type == "cuda":
        return PrecisionPlan(torch.float16, None, "CUDA: fp16 weights")
    if setting == "fp32":
        return PrecisionPlan(torch.float32, None, "CPU: fp32 (forced by cpu_precision=fp32)")
    if setting == "bf16":
        return PrecisionPlan(torch.float32, 1, "CPU: bf16 autocast at every batch (forced by cpu_precision=bf16)")
    if not native_bf16(flags):
        return PrecisionPlan(torch.float32, None, "CPU without native bf16 (no AMX, no AVX512-BF16): fp32")
    threshold = calibrate()
    if threshold is None:
        return PrecisionPlan(torch.float32, None, "CPU with native bf16, measured no faster than fp32: fp32")
    return PrecisionPlan(
        torch.float32, threshold, f"CPU with native bf16: bf16 autocast from a guided batch of {threshold} (measured)"
    )


def _median_seconds(call: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    times = []
    for _ in range(repeats):
        start = clock()
        call()
        times.append(clock() - start)
    return statistics.median(times)


def measure_bf16_threshold(
    forward: Callable[[int], object],
    batches: tuple[int, ...] = CALIBRATION_BATCHES,
    repeats: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> int | None:
    """The smallest batch in `batches` from which `forward(batch)` under bf16 autocast beats fp32
    at that size and every larger one measured; None when bf16 never wins. fp32 and bf16 are
    timed in turn at each size, after one warm-up call of each."""
    def under_bf16(batch: int) -> object:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return forward(batch)

    faster: dict[int, bool] = {}
    for batch in batches:
        fp32, bf16 = functools.partial(forward, batch), functools.partial(under_bf16, batch)
        fp32(), bf16()
        bf16_s, fp32_s = _median_seconds(bf16, repeats, clock), _median_seconds(fp32, repeats, clock)
        faster[batch] = bf16_s < (1 - CALIBRATION_MARGIN) * fp32_s
    threshold = None
    for batch in reversed(batches):
        if not faster[batch]:
            break
        threshold = batch
    return threshold


def denoiser_forward(transformer: torch.nn.Module) -> Callable[[int], object]:
    """One denoiser call on random inputs of the model's own shapes, for calibration."""
    cfg = transformer.config
    generator = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def forward(batch: int) -> object:
        latents = torch.randn(batch, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=generator)
        states = torch.randn(batch, 32, cfg.caption_channels, generator=generator)  # (N, tokens, text dim)
        mask = torch.ones(batch, 32, dtype=torch.long)
        timestep = torch.full((batch,), 500.0)
        return transformer(latents, encoder_hidden_states=states, encoder_attention_mask=mask,
                           timestep=timestep, return_dict=False)

    return forward


def cached_calibration(cache_file: Path | None, key: str, measure: Callable[[], int | None]) -> int | None:
    """`measure()` once per machine and model: the result is kept in `cache_file` under `key`."""
    stored: dict = {}
    if cache_file is not None:
        with contextlib.suppress(OSError, ValueError):
            stored = json.loads(cache_file.read_text())
        if isinstance(stored, dict) and key in stored:
            return stored[key]
    value = measure()
    if cache_file is not None:
        with contextlib.suppress(OSError):
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            stored = stored if isinstance(stored, dict) else {}
            temp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            temp.write_text(json.dumps({**stored, key: value}, indent=1, sort_keys=True))
            temp.replace(cache_file)
    return value


def calibration_key(transformer: torch.nn.Module, flags: frozenset[str]) -> str:
    """Machine (CPU model, flags, threads), torch version and denoiser shape: what the timing depends on."""
    # the shape arguments only: diffusers' private entries (_use_default_values, ...) vary by run
    shape = {k: v for k, v in dict(transformer.config).items() if not k.startswith("_")}
    config = json.dumps(shape, sort_keys=True, default=str)
    machine = f"{platform.processor()}|{sorted(flags)}|{torch.get_num_threads()}|{torch.__version__}"
    return hashlib.sha256(f"{machine}|{config}".encode()).hexdigest()[:16]


def choose_precision(
    device: torch.device, setting: str, transformer: torch.nn.Module | None, cache_file: Path | None
) -> PrecisionPlan:
    """The plan for a denoiser on this machine, with calibration cached in `cache_file`.

    `transformer` (the loaded denoiser) is needed only on CPU, where it may be calibrated.
    """
    flags = cpu_flags()

    def calibrate() -> int | None:
        key = calibration_key(transformer, flags)
        return cached_calibration(cache_file, key, lambda: measure_bf16_threshold(denoiser_forward(transformer)))

    plan = plan_precision(device, setting, flags, calibrate)
    log.info("precision: %s (capability %s)", plan.reason, torch.backends.cpu.get_cpu_capability())
    return plan
