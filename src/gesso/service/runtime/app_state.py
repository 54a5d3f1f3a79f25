"""What the running service holds: database, blobs, queue, worker, limits, metrics. Built once
at start from the settings and handed to routes through `request.app.state` (`deps.State`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.orm import Session, sessionmaker

from gesso.engine.device import pick_device
from gesso.engine.model_registry import shipped_models
from gesso.engine.pipeline_cache import pipeline_cache_for
from gesso.engine.progress_events import JobEvents
from gesso.engine.thread_budget import process_thread_budget
from gesso.engine.worker import EmbeddedWorker, Worker, WorkerObserver
from gesso.governance.deployment import Governance, open_governance
from gesso.governance.rate_limits import KeyRateLimiter, SourceRateLimiter
from gesso.governance.refusal_summaries import RefusalAggregator
from gesso.governance.signed_urls import load_or_create_url_signing_key
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.service.fine_tuning.state import FineTuning, open_finetuning
from gesso.service.http.draining import Drain
from gesso.service.http.metrics import ServiceMetrics
from gesso.service.runtime.expected_wait import ExpectedWait
from gesso.settings import Settings
from gesso.store.blob_store import BlobStore, open_blob_store
from gesso.store.database import database_url, open_database
from gesso.store.sql_job_queue import SqlJobQueue, images_waiting, queue_depth

log = logging.getLogger("gesso.service")


@dataclass
class ServiceState:
    settings: Settings
    sessions: sessionmaker[Session]
    blobs: BlobStore
    queue: SqlJobQueue
    events: JobEvents
    worker: Worker
    limiter: KeyRateLimiter
    metrics: ServiceMetrics
    signing_key: bytes
    pipelines: Callable[[str], GessoPipeline]
    governance: "Governance | None" = None  # audit log, keyring, provenance identity
    finetuning: "FineTuning | None" = None  # fine-tune queue, worker, adapters
    auth_failures: SourceRateLimiter = field(default_factory=lambda: SourceRateLimiter(60))
    refusals: RefusalAggregator = field(default_factory=RefusalAggregator)
    expected_wait: ExpectedWait = field(default_factory=ExpectedWait)
    drain: Drain = field(default_factory=Drain)

    def begin_shutdown(self) -> None:
        """SIGTERM: refuse new work, let the running batch finish within the grace period."""
        if self.drain.begin(self.settings.shutdown_grace_s):
            log.info("shutting down: no new work; the running batch has %.0fs to finish",
                     self.settings.shutdown_grace_s)
            self.worker.drain(self.settings.shutdown_grace_s)

    def model_names(self, tenant_id: str | None = None) -> list[str]:
        """The models a tenant may use: the registered pipelines in `models_dir`, and with
        `tenant_id` also that tenant's fine-tuned models."""
        names = shipped_models(self.settings.models_dir)
        if tenant_id is not None and self.finetuning is not None:
            names += self.finetuning.model_names(tenant_id)
        return names


def build_state(settings: Settings) -> ServiceState:
    """Open everything; migrations run here. The worker is built but not started."""
    sessions = open_database(database_url(settings.data_dir, settings.database_url), settings.database_busy_timeout_s)
    governance = open_governance(settings, sessions)  # seals blobs and job specs from here on
    blobs = governance.seal(open_blob_store(settings.data_dir, settings.blob_url))
    queue = SqlJobQueue(sessions, blobs, settings.job_max_attempts, lease_s=settings.job_lease_s)
    events = JobEvents()
    expected_wait = ExpectedWait()

    def read_depth() -> dict[str, int]:
        with sessions() as session:
            return queue_depth(session)

    def read_expected_wait() -> float:
        with sessions() as session:
            return expected_wait.seconds_for(images_waiting(session))

    metrics = ServiceMetrics(read_depth, read_expected_wait)
    cache = pipeline_cache_for(settings, pick_device(settings.device))

    def pipelines(name: str) -> GessoPipeline:
        # only registered names: a model field is never a path on this machine
        if name not in shipped_models(settings.models_dir):
            raise LookupError(f"unknown model {name!r}")
        return cache.get(settings.models_dir / name, settings.default_sampler)

    process_thread_budget(settings.torch_threads)  # before any worker takes its share
    finetuning = open_finetuning(settings, sessions, blobs, pipelines)  # `ft:...` names too
    worker = EmbeddedWorker(
        governance.stamping(queue),
        finetuning.pipelines,
        events,
        settings.max_batch_images,
        preload_model=settings.default_model,
        observer=WorkerObserver(
            batch=metrics.observe_batch, images=metrics.observe_images, throughput=expected_wait.observe
        ),
        heartbeat_s=max(0.5, settings.job_lease_s / 3),
    )
    return ServiceState(
        settings=settings,
        sessions=sessions,
        blobs=blobs,
        queue=queue,
        events=events,
        worker=worker,
        limiter=KeyRateLimiter(),
        metrics=metrics,
        signing_key=load_or_create_url_signing_key(settings.data_dir / "keys" / "url-signing.key"),
        governance=governance,
        pipelines=finetuning.pipelines,
        finetuning=finetuning,
        auth_failures=SourceRateLimiter(settings.auth_failures_per_minute),
        refusals=RefusalAggregator(settings.refusal_audit_window_s, settings.refusal_audit_summary_every),
        expected_wait=expected_wait,
    )
