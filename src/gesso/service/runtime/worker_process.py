"""`gesso worker`: a process that runs jobs and serves no HTTP. It opens what jobs need (database,
governance, sealed blobs, pipelines: `job_runtime.py`), starts the image worker, the fine-tune
worker or both, and runs until SIGTERM or SIGINT; then, as the server does at shutdown, the
running batch finishes within `shutdown_grace_s` or is handed back to the queue, and a running
fine-tune pauses at a checkpoint. Any number of these processes (and API replicas) share one
database and object store: jobs are claimed with leases, so none runs twice to completion."""

from __future__ import annotations

import logging
import signal
import threading

from gesso.engine.progress_events import JobEvents
from gesso.engine.worker import WorkerObserver
from gesso.governance.deployment import open_audit_log
from gesso.governance.egress_wiring import guard_process_egress
from gesso.offline import force_offline
from gesso.service.http.request_context import configure_json_logging
from gesso.service.runtime.job_runtime import build_image_worker, check_stores, open_job_runtime
from gesso.service.runtime.throughput_reporter import ThroughputReporter
from gesso.settings import WORKER_KINDS, Settings
from gesso.store.database import database_url, open_database

WATCH_EVERY_S = 0.5
log = logging.getLogger("gesso.worker")


def worker_log_observer(throughput: ThroughputReporter) -> WorkerObserver:
    """Batch sizes as log lines (the per-run line with jobs and images comes from the worker);
    each run's speed to `throughput`, for every replica's admission."""
    return WorkerObserver(batch=lambda size: log.debug("pipeline call of %d image(s)", size, extra={"images": size}),
                          throughput=throughput.observe)


def run_worker_process(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run the workers `settings.worker_kind` names until `stop` is set (by SIGTERM/SIGINT when
    not given); returns the process's exit status. StoreUnusable when a store setting cannot
    work, ValueError for an unknown kind."""
    kind = settings.worker_kind
    if kind not in WORKER_KINDS:
        raise ValueError(f"unknown worker kind {kind!r}; one of {', '.join(WORKER_KINDS)}")
    force_offline()
    check_stores(settings)  # before the log is set up: a refusal is one line, not the client's chatter
    if settings.uses_ray and kind in ("images", "all"):  # RayUnavailable: one line, before the log
        from gesso.service.runtime.ray_generation import prepare_ray_engine

        prepare_ray_engine(settings)
    configure_json_logging()
    url = database_url(settings.data_dir, settings.database_url)
    guard_process_egress(settings, open_audit_log(settings, open_database(url)))
    if stop is None:
        stop = stop_on_signals()
    runtime = open_job_runtime(settings)
    throughput = ThroughputReporter(runtime.sessions, runtime.queue.owner)
    images = build_image_worker(runtime, JobEvents(), worker_log_observer(throughput)) if kind in ("images", "all") else None
    fine_tunes = kind in ("fine-tunes", "all")
    if images is not None:
        throughput.start()
        images.start()
    if fine_tunes:
        runtime.finetuning.start(only_worker=False)  # other workers may hold running fine-tunes
    log.info("worker started", extra={"kinds": kind, "owner": runtime.queue.owner})
    status = _watch(images, stop)
    log.info("worker stopping: the running batch has %.0fs to finish", settings.shutdown_grace_s,
             extra={"kinds": kind})
    if images is not None:
        images.drain(settings.shutdown_grace_s)  # claims nothing more from here on
    if fine_tunes:
        runtime.finetuning.stop()  # pauses a running fine-tune at a checkpoint
    if images is not None:
        images.stop(settings.shutdown_grace_s)  # the rest of the batch is handed back
        throughput.stop()
    try:
        runtime.governance.audit.checkpoint_all()
    except Exception:  # noqa: BLE001 - the API replicas sign checkpoints too
        log.exception("could not sign the final audit checkpoints")
    runtime.sessions.kw["bind"].dispose()
    log.info("worker stopped", extra={"kinds": kind, "exit_status": status})
    return status


def _watch(images, stop: threading.Event) -> int:  # noqa: ANN001 - EmbeddedWorker | None
    """Wait for `stop`; log once the image worker is ready; 1 if it ended on its own (its
    default model could not be loaded: the log says why), else 0."""
    announced = False
    while not stop.wait(WATCH_EVERY_S):
        if images is None:
            continue
        if not announced and images.ready:
            log.info("worker ready: default model loaded")
            announced = True
        if not images.alive:
            log.error("the image worker ended; stopping")
            return 1
    return 0


def stop_on_signals(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> threading.Event:
    """An event set by the first of `signals` (a second one of them ends the process at once)."""
    stop = threading.Event()

    def handle(signum: int, _frame) -> None:  # noqa: ANN001
        if stop.is_set():
            raise SystemExit(128 + signum)
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    for number in signals:
        signal.signal(number, handle)
    return stop
