"""LoRA adapters loaded on demand onto cached pipelines, the recently used ones kept (LRU).

An adapter is attached to a pipeline's denoiser once and then only switched on and off, so a
request for a fine-tuned model costs one small weights file the first time and nothing after.
Which adapter is active is state of the whole pipeline, so a batch runs inside `use(...)`, which
holds that pipeline's lock until the batch is done; and requests for different adapters are
planned into different batches (`plan_adapter_batches`).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from gesso.engine.batching import ImageSlot, plan_batches
from gesso.jobs.generation_request import GenerationRequest
from gesso.model.adapters import ADAPTER_WEIGHTS, AdapterError, activate_adapter, attach_adapter, detach_adapter
from gesso.model.pipeline_gesso import GessoPipeline


def adapter_key(adapter_dir: Path) -> str:
    """Identifies an adapter's current weights: its folder plus the weights file's size and mtime,
    so an adapter rewritten in place is loaded again rather than served stale."""
    weights = adapter_dir / ADAPTER_WEIGHTS
    try:
        info = weights.stat()
    except OSError:
        raise AdapterError(f"{adapter_dir} is not an adapter folder (no {ADAPTER_WEIGHTS})") from None
    return f"{adapter_dir.resolve()}:{info.st_size}:{info.st_mtime_ns}"


class _PipelineAdapters:
    """The adapters attached to one pipeline, least recently used first, and its lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.names: OrderedDict[str, str] = OrderedDict()  # adapter key -> peft adapter name


class AdapterCache:
    """Attach adapters to pipelines when first asked for; keep at most `max_adapters` per pipeline."""

    def __init__(self, max_adapters: int = 8):
        if max_adapters < 1:
            raise ValueError("max_adapters must be at least 1")
        self.max_adapters = max_adapters
        self._lock = threading.Lock()
        self._pipelines: weakref.WeakKeyDictionary[GessoPipeline, _PipelineAdapters] = weakref.WeakKeyDictionary()
        self.loads = 0  # how many times an adapter was read from disk (for metrics and tests)

    @contextmanager
    def use(self, pipe: GessoPipeline, adapter_dir: Path | None) -> Iterator[GessoPipeline]:
        """Run the body with `adapter_dir`'s adapter active on `pipe` (None: the plain base model).

        Holds the pipeline's lock for the whole body, so no other thread switches the adapter
        mid-batch. Raises AdapterError when the adapter folder is bad or does not fit the base.
        """
        state = self._state(pipe)
        with state.lock:
            name = self._attached_name(pipe, state, adapter_dir) if adapter_dir is not None else None
            activate_adapter(pipe.transformer, name)
            yield pipe

    def loaded(self, pipe: GessoPipeline) -> list[str]:
        """Keys of the adapters attached to `pipe`, least recently used first."""
        return list(self._state(pipe).names)

    def _state(self, pipe: GessoPipeline) -> _PipelineAdapters:
        with self._lock:
            state = self._pipelines.get(pipe)
            if state is None:
                state = self._pipelines[pipe] = _PipelineAdapters()
            return state

    def _attached_name(self, pipe: GessoPipeline, state: _PipelineAdapters, adapter_dir: Path) -> str:
        key = adapter_key(adapter_dir)
        if key in state.names:
            state.names.move_to_end(key)
            return state.names[key]
        name = "a" + hashlib.sha256(key.encode()).hexdigest()[:16]
        attach_adapter(pipe.transformer, adapter_dir, name)
        self.loads += 1
        state.names[key] = name
        while len(state.names) > self.max_adapters:
            _, evicted = state.names.popitem(last=False)
            detach_adapter(pipe.transformer, evicted)
        return name


def plan_adapter_batches(
    requests: list[GenerationRequest], adapters: list[str | None], max_batch: int
) -> list[tuple[str | None, list[ImageSlot]]]:
    """`plan_batches`, but requests for different adapters (None: the base) never share a batch.

    `adapters[i]` names request i's adapter (any id: folder path, model name). Returns
    (adapter, slots) pairs; slot.request indexes the full `requests` list.
    """
    if len(adapters) != len(requests):
        raise ValueError("one adapter entry per request")
    groups: dict[str | None, list[int]] = {}
    for index, adapter in enumerate(adapters):
        groups.setdefault(adapter, []).append(index)
    planned: list[tuple[str | None, list[ImageSlot]]] = []
    for adapter, indexes in groups.items():
        for slots in plan_batches([requests[i] for i in indexes], max_batch):
            planned.append((adapter, [replace(s, request=indexes[s.request]) for s in slots]))
    return planned
