"""What the running service holds: database, blobs, queue, worker, limits, metrics. Built once
at start from the settings and handed to routes through `request.app.state` (`deps.State`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.orm import Session, sessionmaker

from gesso.engine.model_registry import shipped_models
from gesso.engine.progress_events import JobEvents
from gesso.engine.worker import NoWorker, Worker, WorkerObserver
from gesso.governance.deployment import Governance, keys_dir
from gesso.governance.rate_limits import KeyRateLimiter, SharedKeyRateLimiter, SourceRateLimiter
from gesso.governance.refusal_summaries import RefusalAggregator
from gesso.governance.signed_urls import URL_SIGNING_KEY_FILE, load_or_create_url_signing_key
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.service.fine_tuning.state import FineTuning
from gesso.service.http.draining import Drain
from gesso.service.http.metrics import ServiceMetrics
from gesso.service.runtime.expected_wait import ExpectedWait, SharedExpectedWait
from gesso.service.runtime.job_runtime import build_image_worker, open_job_runtime
from gesso.service.runtime.throughput_reporter import ThroughputReporter
from gesso.settings import Settings
from gesso.store.blob_store import BlobStore
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
    limiter: KeyRateLimiter | SharedKeyRateLimiter
    metrics: ServiceMetrics
    signing_key: bytes
    pipelines: Callable[[str], GessoPipeline]
    governance: "Governance | None" = None  # audit log, keyring, provenance identity
    finetuning: "FineTuning | None" = None  # fine-tune queue, worker, adapters
    # `gesso serve` with its embedded worker on SQLite: no other process runs this database's
    # jobs, so waits rely on this process's events and a restart requeues what was running
    runs_jobs_alone: bool = True
    auth_failures: SourceRateLimiter = field(default_factory=lambda: SourceRateLimiter(60))
    refusals: RefusalAggregator = field(default_factory=RefusalAggregator)
    expected_wait: "SharedExpectedWait | ExpectedWait" = field(default_factory=ExpectedWait)
    # the embedded worker's figure, written for other replicas (None: no worker, or none to tell)
    throughput: "ThroughputReporter | None" = None
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
    """Open everything; migrations run here. The worker is built but not started; with
    `embedded_worker` off there is none (separate `gesso worker` processes run the jobs)."""
    runtime = open_job_runtime(settings)
    sessions = runtime.sessions
    events = JobEvents()
    runs_jobs_alone = settings.embedded_worker and not runtime.shared_database
    owner = runtime.queue.owner
    # alone, this process's worker is the only one; otherwise its figure travels through the
    # database and every live worker's counts (an API-only replica has only those)
    reporter = ThroughputReporter(sessions, owner) if settings.embedded_worker and not runs_jobs_alone else None
    local = reporter.measure if reporter is not None else ExpectedWait() if settings.embedded_worker else None
    expected_wait = SharedExpectedWait(sessions, local=local, owner=owner)

    def read_depth() -> dict[str, int]:
        with sessions() as session:
            return queue_depth(session)

    def read_expected_wait() -> float:
        with sessions() as session:
            return expected_wait.seconds_for(images_waiting(session))

    metrics = ServiceMetrics(read_depth, read_expected_wait)
    worker: Worker = NoWorker()
    if settings.embedded_worker:
        observer = WorkerObserver(
            batch=metrics.observe_batch, images=metrics.observe_images, throughput=reporter.observe if reporter is not None else local.observe
        )
        worker = build_image_worker(runtime, events, observer, share_previews=not runs_jobs_alone)
    engine = sessions.kw["bind"]
    return ServiceState(
        settings=settings,
        sessions=sessions,
        blobs=runtime.blobs,
        queue=runtime.queue,
        events=events,
        worker=worker,
        limiter=SharedKeyRateLimiter(engine) if engine.dialect.name == "postgresql" else KeyRateLimiter(),
        metrics=metrics,
        signing_key=load_or_create_url_signing_key(keys_dir(settings) / URL_SIGNING_KEY_FILE),
        governance=runtime.governance,
        pipelines=runtime.finetuning.pipelines,
        finetuning=runtime.finetuning,
        runs_jobs_alone=runs_jobs_alone,
        auth_failures=SourceRateLimiter(settings.auth_failures_per_minute),
        refusals=RefusalAggregator(settings.refusal_audit_window_s, settings.refusal_audit_summary_every),
        expected_wait=expected_wait,
        throughput=reporter,
    )
