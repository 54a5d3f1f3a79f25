"""Keep loaded pipelines in memory, keyed by folder and sampler, each with its precision plan."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from gesso.engine.precision import PrecisionPlan, choose_precision
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.samplers import make_scheduler
from gesso.settings import Settings


class PipelineCache:
    """Load each pipeline once; a lock keeps two threads from loading the same one twice.

    `cpu_precision` (auto | fp32 | bf16) and `calibration_file` decide how the denoiser computes
    on a CPU (see engine/precision.py); the plan is made once per loaded pipeline.
    """

    def __init__(
        self,
        device: torch.device,
        max_items: int = 4,
        cpu_precision: str = "auto",
        calibration_file: Path | None = None,
    ):
        self.device = device
        self.max_items = max_items
        self.cpu_precision = cpu_precision
        self.calibration_file = calibration_file
        self.plans: dict[str, PrecisionPlan] = {}
        self._items: dict[tuple[str, str], GessoPipeline] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, sampler: str = "euler") -> GessoPipeline:
        key = (str(path.resolve()), sampler)
        with self._lock:
            pipe = self._items.get(key)
            if pipe is None:
                pipe = self._load(path, sampler)
                if len(self._items) >= self.max_items:
                    self._items.pop(next(iter(self._items)))
                self._items[key] = pipe
            return pipe

    def _load(self, path: Path, sampler: str) -> GessoPipeline:
        folder = str(path.resolve())
        plan = self.plans.get(folder)
        if plan is None and self.device.type == "cuda":
            plan = choose_precision(self.device, self.cpu_precision, None, self.calibration_file)
        pipe = GessoPipeline.load(path, device=self.device, dtype=plan.weights if plan else torch.float32)
        if plan is None:  # CPU: the calibration needs the loaded denoiser
            plan = choose_precision(self.device, self.cpu_precision, pipe.transformer, self.calibration_file)
        self.plans[folder] = plan
        pipe.bf16_from_batch = plan.bf16_from_batch
        pipe.scheduler = make_scheduler(sampler, pipe.scheduler.config.get("shift", 1.0))
        pipe.set_progress_bar_config(disable=True)
        return pipe


def pipeline_cache_for(settings: Settings, device: torch.device) -> PipelineCache:
    """The cache a process builds from its settings (`cpu_precision`, data directory)."""
    return PipelineCache(
        device,
        cpu_precision=settings.cpu_precision,
        calibration_file=settings.data_dir / "cache" / "cpu-precision.json",
    )
