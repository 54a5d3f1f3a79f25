"""Model names -> pipelines: a fine-tuned model's name (`ft:<base>:<tenant>:<suffix>:<job>`)
gives its base model's cached pipeline wrapped so that every call runs with that model's adapter
active (`AdapterCache.use`); a base model's name gives the same pipeline wrapped with no adapter,
because the active adapter is state of the shared pipeline and stays on after a batch.

The wrapper is what the image worker sees as "the pipeline", so each batch — one pipeline call —
runs inside `use`, holding the pipeline's lock: no other batch can switch the adapter mid-call.
Jobs for different models never share a batch (their batch key holds the model name), so
different adapters never share one either. Who may use which name is decided above this layer.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

from gesso.engine.adapter_cache import AdapterCache
from gesso.jobs.model_ids import is_fine_tuned
from gesso.model.pipeline_gesso import GessoPipeline

# Loading a pipeline (diffusers/accelerate build modules on the "meta" device by patching
# `nn.Module` for the whole process, not one thread) must never overlap with another thread
# creating parameters (LoRA layers for training or serving): those would land on "meta" too.
# Every thread that loads a pipeline or adds adapter layers holds this lock while it does.
MODEL_BUILD_LOCK = threading.Lock()

# a fine-tuned model's name -> (base model name, adapter folder), or None when unknown
AdapterLookup = Callable[[str], tuple[str, Path] | None]


class AdaptedPipeline:
    """A base pipeline seen through one adapter: calls run inside `AdapterCache.use`; every
    other attribute (`supported_sizes`, `decode_latents`, ...) is the base pipeline's."""

    def __init__(self, base: GessoPipeline, adapter_dir: Path | None, adapters: AdapterCache):
        self.base = base
        self.adapter_dir = adapter_dir
        self.adapters = adapters

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with ExitStack() as stack:
            with MODEL_BUILD_LOCK:  # only while the adapter is attached (first use) and switched on
                pipe = stack.enter_context(self.adapters.use(self.base, self.adapter_dir))
            return pipe(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


class ModelPipelines:
    """`pipelines(name)` for the worker and the routes: base names through `base`, fine-tuned
    names through `lookup` and the adapter cache. Raises LookupError for an unknown name."""

    def __init__(self, base: Callable[[str], GessoPipeline], lookup: AdapterLookup, adapters: AdapterCache):
        self.base = base
        self.lookup = lookup
        self.adapters = adapters

    def __call__(self, name: str) -> AdaptedPipeline:
        if not is_fine_tuned(name):
            return AdaptedPipeline(self._load(name), None, self.adapters)
        found = self.lookup(name)
        if found is None:
            raise LookupError(f"unknown model {name!r}")
        base_name, adapter_dir = found
        return AdaptedPipeline(self._load(base_name), adapter_dir, self.adapters)

    def _load(self, name: str) -> GessoPipeline:
        with MODEL_BUILD_LOCK:  # a cache hit costs nothing; a load must not overlap LoRA layer creation
            return self.base(name)
