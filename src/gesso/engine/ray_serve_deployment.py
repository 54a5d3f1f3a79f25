"""The Ray Serve deployment that holds the pipeline: one replica per GPU (or a configured number
of CPU replicas), each answering one claimed job per request with that job's images as pixels.

`@serve.batch` gathers the jobs that arrive together into one call (sized in images, at most the
worker's `max_batch_images` per pipeline call, as the embedded worker plans them); Serve splits a
gathered batch by multiplexed model id, so one call never mixes adapters. `@serve.multiplexed`
keeps the recently used LoRA adapters attached per replica, and Serve routes a request for a
fine-tuned model to a replica that already holds its adapter. The adapter's files come with the
request as a Ray object reference (see docs/SECURITY.md): the replica never opens the database or
the blob store. What the replica returns is what `execute_jobs` returns embedded, so stamping,
encoding and storing stay with the worker that claimed the jobs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import serve

from gesso.engine.adapter_cache import AdapterCache
from gesso.engine.device import pick_device
from gesso.engine.job_execution import execute_jobs
from gesso.engine.model_registry import shipped_models
from gesso.engine.model_resolution import MODEL_BUILD_LOCK, AdaptedPipeline
from gesso.engine.pipeline_cache import PipelineCache
from gesso.jobs.image_jobs import ClaimedJob, FinishedImage
from gesso.model.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from gesso.model.pipeline_gesso import GessoPipeline

log = logging.getLogger("gesso.ray.serve")
DEPLOYMENT_NAME = "GessoGeneration"


@dataclass(frozen=True)
class ReplicaConfig:
    """What a replica needs to build its pipelines: where the registered models are, on which
    device, how big one pipeline call may be, and how many adapters it keeps loaded."""

    models_dir: str
    device: str = "auto"
    cpu_precision: str = "auto"
    sampler: str = "dpm"
    max_batch_images: int = 8
    max_request_images: int = 10  # one job is never split across requests: a gathered batch holds it
    batch_wait_s: float = 0.05
    max_adapters: int = 4
    preload_model: str | None = None


@dataclass(frozen=True)
class AdapterFiles:
    """A fine-tuned model's adapter as plain bytes (safetensors weights and its JSON config)."""

    weights: bytes
    config: bytes


@dataclass(frozen=True)
class AdapterRef:
    """Which adapter a job needs: `adapter_id` names its current weights (the multiplexed model
    id); `files` is a Ray object reference to its `AdapterFiles`, fetched only by a replica that
    does not hold it yet."""

    adapter_id: str
    files: Any  # ray.ObjectRef[AdapterFiles]


@dataclass(frozen=True)
class ReplicaJob:
    """One claimed job as sent to a replica: the job, the registered base model it runs on, and
    its adapter (None: the base model itself)."""

    job: ClaimedJob
    base_model: str
    adapter: AdapterRef | None = None


@dataclass(frozen=True)
class ReplicaJobFailed:
    """The job's own generation failed on the replica (not the replica): the job fails."""

    message: str


class LoadedAdapter:
    """An adapter's files written under the replica's private folder; Serve calls `__del__` when
    it evicts the adapter (least recently used), which removes them."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __del__(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def images_in(items: list[ReplicaJob]) -> int:
    """A gathered batch's size for `@serve.batch`: images, not jobs."""
    return sum(item.job.request.n for item in items)


class GenerationReplica:
    """One replica: pipelines cached by base model, adapters multiplexed, jobs batched."""

    def __init__(self, config: ReplicaConfig):
        self.config = config
        self.pipelines = PipelineCache(pick_device(config.device), cpu_precision=config.cpu_precision)
        self.adapters = AdapterCache(config.max_adapters)
        self.adapter_root = Path(tempfile.mkdtemp(prefix="gesso-adapters-"))
        os.chmod(self.adapter_root, 0o700)  # decrypted adapter weights: this process's only
        self.batch_sizes: list[int] = []  # images per pipeline call, for metrics and tests
        self.adapter_loads = 0  # adapters fetched and attached on this replica
        self.running_jobs = 0
        self._pending: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.run_jobs.set_max_batch_size(max(config.max_batch_images, config.max_request_images))
        self.run_jobs.set_batch_wait_timeout_s(config.batch_wait_s)

        async def load_adapter(adapter_id: str) -> LoadedAdapter:
            return await self._load_adapter(adapter_id)

        # wired here, not on the class: the number of adapters kept is a setting
        self.adapter = serve.multiplexed(max_num_models_per_replica=config.max_adapters)(load_adapter)
        if config.preload_model:
            self._pipeline(config.preload_model)

    async def __call__(self, item: ReplicaJob) -> list[FinishedImage]:
        """The images of one job, in index order. Raises RuntimeError when the job's generation
        failed (the job fails); a replica that dies raises Ray's actor errors in the caller."""
        outcome = await self.run_jobs(item)
        if isinstance(outcome, ReplicaJobFailed):
            raise RuntimeError(outcome.message)
        return outcome

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05, batch_size_fn=images_in)
    async def run_jobs(self, items: list[ReplicaJob]) -> list[list[FinishedImage] | ReplicaJobFailed]:
        adapter_id = serve.get_multiplexed_model_id()
        adapter_dir: Path | None = None
        if adapter_id:
            refs = [item.adapter.files for item in items if item.adapter is not None]
            if refs:
                self._pending[adapter_id] = refs[0]
            try:
                adapter_dir = (await self.adapter(adapter_id)).folder
            except Exception as error:  # noqa: BLE001 - a bad adapter fails its jobs, not the replica
                log.exception("could not load adapter %s", adapter_id)
                return [ReplicaJobFailed(f"adapter failed to load: {error.__class__.__name__}")] * len(items)
            finally:
                self._pending.pop(adapter_id, None)
        self.running_jobs += len(items)
        try:
            return await asyncio.to_thread(self._execute, items, adapter_dir)
        finally:
            self.running_jobs -= len(items)

    def stats(self) -> dict:
        """What this replica did so far (for metrics and tests) and who it is."""
        context = serve.get_replica_context()
        return {
            "replica": context.replica_id.unique_id,
            "actor_name": context.replica_id.to_full_id_str(),
            "pid": os.getpid(),
            "batch_sizes": list(self.batch_sizes),
            "adapter_loads": self.adapter_loads,
            "adapter_attaches": self.adapters.loads,
            "running_jobs": self.running_jobs,
        }

    def _pipeline(self, name: str) -> GessoPipeline:
        if name not in shipped_models(Path(self.config.models_dir)):
            raise LookupError(f"unknown model {name!r}")
        with MODEL_BUILD_LOCK:
            return self.pipelines.get(Path(self.config.models_dir) / name, self.config.sampler)

    async def _load_adapter(self, adapter_id: str) -> LoadedAdapter:
        ref = self._pending.get(adapter_id)
        if ref is None:
            raise LookupError(f"adapter {adapter_id} was not sent with its request")
        files: AdapterFiles = await ref
        folder = Path(tempfile.mkdtemp(prefix="a-", dir=self.adapter_root))
        (folder / ADAPTER_WEIGHTS).write_bytes(files.weights)
        (folder / ADAPTER_CONFIG).write_bytes(files.config)
        self.adapter_loads += 1
        return LoadedAdapter(folder)

    def _execute(self, items: list[ReplicaJob], adapter_dir: Path | None) -> list[list[FinishedImage] | ReplicaJobFailed]:
        """Run the gathered jobs by (base model, batch key); one group that fails is run job by
        job, so only the bad job fails. Results in item order."""
        results: list[list[FinishedImage] | ReplicaJobFailed | None] = [None] * len(items)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault((item.base_model, item.job.request.batch_key()), []).append(index)
        with self._lock:  # one pipeline call at a time on this replica's device
            for (base_model, _), indexes in groups.items():
                for index, outcome in zip(indexes, self._run_group(base_model, [items[i] for i in indexes], adapter_dir), strict=True):
                    results[index] = outcome
        return [result if result is not None else ReplicaJobFailed("generation failed") for result in results]

    def _run_group(self, base_model: str, items: list[ReplicaJob], adapter_dir: Path | None) -> list:
        try:
            pipe = AdaptedPipeline(self._pipeline(base_model), adapter_dir, self.adapters)
            finished = execute_jobs(pipe, [item.job for item in items], self.config.max_batch_images,
                                    on_batch=self.batch_sizes.append)
            return [job.images for job in finished]
        except Exception as error:  # noqa: BLE001 - the job's failure, reported to its caller
            if len(items) > 1:
                return [outcome for item in items for outcome in self._run_group(base_model, [item], adapter_dir)]
            log.exception("job %s failed on the replica", items[0].job.id)
            return [ReplicaJobFailed(f"generation failed: {error.__class__.__name__}")]


# made a deployment after the class is a module attribute, so Ray pickles it by reference
generation_deployment = serve.deployment(name=DEPLOYMENT_NAME, max_ongoing_requests=32, health_check_period_s=5)(
    GenerationReplica
)
