"""Keep loaded pipelines in memory, keyed by folder and device."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from gesso.engine.device import weights_dtype
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.samplers import make_scheduler


class PipelineCache:
    """Load each pipeline once; a lock keeps two threads from loading the same one twice."""

    def __init__(self, device: torch.device, max_items: int = 4):
        self.device = device
        self.max_items = max_items
        self._items: dict[tuple[str, str], GessoPipeline] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, sampler: str = "euler") -> GessoPipeline:
        key = (str(path.resolve()), sampler)
        with self._lock:
            pipe = self._items.get(key)
            if pipe is None:
                pipe = GessoPipeline.load(path, device=self.device, dtype=weights_dtype(self.device))
                pipe.scheduler = make_scheduler(sampler, pipe.scheduler.config.get("shift", 1.0))
                pipe.set_progress_bar_config(disable=True)
                if len(self._items) >= self.max_items:
                    self._items.pop(next(iter(self._items)))
                self._items[key] = pipe
            return pipe
