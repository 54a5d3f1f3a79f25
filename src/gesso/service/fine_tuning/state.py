"""What the service holds for fine-tuning: the durable queue, the worker thread, the adapter
cache, and the model-name resolution that makes `ft:...` names usable in the images endpoints."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.orm import Session, sessionmaker

from gesso.data.upload_archives import ArchiveLimits
from gesso.engine.adapter_cache import AdapterCache
from gesso.engine.finetune_worker import FineTuneWorker
from gesso.engine.model_resolution import ModelPipelines
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.settings import Settings
from gesso.store.blob_store import BlobStore
from gesso.store.fine_tuned_adapters import adapter_location
from gesso.store.finetune_queue import SqlFineTuneQueue
from gesso.store.finetune_records import tenant_models

log = logging.getLogger("gesso.finetune")


@dataclass
class FineTuning:
    queue: SqlFineTuneQueue
    worker: FineTuneWorker
    adapters: AdapterCache
    pipelines: ModelPipelines
    sessions: sessionmaker[Session]

    def start(self, only_worker: bool) -> None:
        """Put interrupted fine-tunes back in the queue, then start the worker.

        `only_worker`: this process runs the database's only fine-tune worker (the embedded
        server on SQLite), so every running fine-tune was cut short by the last crash and resumes
        now; otherwise only those whose lease lapsed (the rest belong to live workers elsewhere).
        """
        requeued = self.queue.requeue_interrupted(only_worker=only_worker)
        if requeued:
            log.info("requeued %d interrupted fine-tune(s)", requeued)
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def model_names(self, tenant_id: str) -> list[str]:
        """The tenant's fine-tuned models (other tenants' never appear)."""
        with self.sessions() as session:
            return [model.id for model in tenant_models(session, tenant_id)]


def upload_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_upload_bytes=settings.finetune_upload_max_bytes,
        max_members=settings.finetune_upload_max_members,
        max_total_bytes=settings.finetune_upload_max_total_bytes,
        max_archive_ratio=settings.finetune_upload_max_ratio,
        archive_ratio_floor_bytes=settings.finetune_upload_ratio_floor_bytes,
        max_unlisted_members=settings.finetune_upload_max_unlisted,
    )


def open_finetuning(
    settings: Settings,
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    base_pipelines: Callable[[str], GessoPipeline],
    owner: str | None = None,
) -> FineTuning:
    """Build (not start) the fine-tuning side of the service: a queue leased as `owner`
    (default: host, pid and a random part), job folders and fetched adapters under the data
    directory, leases of `job_lease_s` renewed every third of that."""
    queue = SqlFineTuneQueue(
        sessions, blobs, settings.models_dir, upload_limits(settings), settings.job_max_attempts,
        lease_s=settings.job_lease_s, owner=owner, work_root=(settings.data_dir / "finetunes").resolve(),
    )
    adapters = AdapterCache(settings.adapter_cache_size)
    fetched = (settings.data_dir / "adapters").resolve()
    pipelines = ModelPipelines(base_pipelines, lambda name: adapter_location(sessions, blobs, name, fetched), adapters)
    training = None
    if settings.uses_ray:  # the same worker and queue; the training runs on Ray Train
        from gesso.service.fine_tuning.ray_training import ray_finetune_training

        training = ray_finetune_training(settings)
    worker = FineTuneWorker(queue, heartbeat_s=max(0.5, settings.job_lease_s / 3), training=training)
    return FineTuning(queue=queue, worker=worker, adapters=adapters, pipelines=pipelines, sessions=sessions)
