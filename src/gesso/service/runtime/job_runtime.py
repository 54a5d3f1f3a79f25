"""What the API and the workers both open from the settings: the database (migrated), governance
(audit log, keyring: blobs and job specs are sealed from here on), the sealed blob store, the
image job queue, fine-tuning and the model pipelines. `gesso serve` adds the HTTP side to it
(`app_state.py`); `gesso worker` adds only workers (`worker_process.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from gesso.engine.device import pick_device
from gesso.engine.model_registry import shipped_models
from gesso.engine.pipeline_cache import pipeline_cache_for
from gesso.engine.progress_events import JobEvents
from gesso.engine.thread_budget import process_thread_budget
from gesso.engine.worker import EmbeddedWorker, Worker, WorkerObserver
from gesso.governance.deployment import Governance, open_governance
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.service.fine_tuning.state import FineTuning, open_finetuning
from gesso.settings import Settings
from gesso.store.blob_store import BlobStore, open_blob_store
from gesso.store.database import database_url, open_database
from gesso.store.job_previews import SqlPreviewChannel
from gesso.store.sql_job_queue import SqlJobQueue
from gesso.store.startup_checks import check_blob_store, check_database


@dataclass
class JobRuntime:
    settings: Settings
    sessions: sessionmaker[Session]
    governance: Governance
    blobs: BlobStore
    queue: SqlJobQueue
    finetuning: FineTuning

    @property
    def shared_database(self) -> bool:
        """Whether other machines may use this database (anything but the embedded SQLite file)."""
        return self.sessions.kw["bind"].dialect.name != "sqlite"


def check_stores(settings: Settings) -> None:
    """Before anything is written: the database answers and the object store's bucket is usable;
    StoreUnusable names what is wrong in one sentence."""
    check_database(database_url(settings.data_dir, settings.database_url))
    check_blob_store(open_blob_store(settings.data_dir, settings.blob_url))


def open_job_runtime(settings: Settings) -> JobRuntime:
    """Open everything jobs need; migrations run here. No model is loaded yet."""
    sessions = open_database(database_url(settings.data_dir, settings.database_url), settings.database_busy_timeout_s)
    governance = open_governance(settings, sessions)  # seals blobs and job specs from here on
    blobs = governance.seal(open_blob_store(settings.data_dir, settings.blob_url))
    queue = SqlJobQueue(sessions, blobs, settings.job_max_attempts, lease_s=settings.job_lease_s)
    cache = pipeline_cache_for(settings, pick_device(settings.device))

    def pipelines(name: str) -> GessoPipeline:
        # only registered names: a model field is never a path on this machine
        if name not in shipped_models(settings.models_dir):
            raise LookupError(f"unknown model {name!r}")
        return cache.get(settings.models_dir / name, settings.default_sampler)

    process_thread_budget(settings.torch_threads)  # before any worker takes its share
    finetuning = open_finetuning(settings, sessions, blobs, pipelines)  # `ft:...` names too
    return JobRuntime(settings, sessions, governance, blobs, queue, finetuning)


def build_image_worker(
    runtime: JobRuntime, events: JobEvents, observer: WorkerObserver | None = None, share_previews: bool = True
) -> Worker:
    """The image worker (built, not started): it completes jobs through governance's stamping;
    with `share_previews` (requests in other processes may wait on its jobs) it stores their
    previews in the database as well as handing them to `events`. With `engine: ray` the
    pipeline calls run on Ray Serve (`ray_generation.py`; no previews there)."""
    settings = runtime.settings
    if settings.uses_ray:
        from gesso.service.runtime.ray_generation import build_ray_image_worker

        return build_ray_image_worker(runtime, events, observer)
    previews = SqlPreviewChannel(runtime.sessions, runtime.blobs, settings.preview_every_s) if share_previews else None
    return EmbeddedWorker(
        runtime.governance.stamping(runtime.queue),
        runtime.finetuning.pipelines,
        events,
        settings.max_batch_images,
        batch_wait_s=settings.batch_wait_s,
        preload_model=settings.default_model,
        observer=observer,
        heartbeat_s=max(0.5, settings.job_lease_s / 3),
        previews=previews,
    )
