"""What every image worker does with the jobs it has claimed, whatever runs them: keep their ids,
renew their leases on a heartbeat, count down the shutdown grace, and end each job through the
queue without letting a failed write end the worker."""

from __future__ import annotations

import logging
import threading
import time

from gesso.engine.progress_events import JobEvents, JobFinished
from gesso.jobs.image_jobs import ClaimedJob, FinishedJob, JobQueue
from gesso.jobs.queue_errors import QueueUnavailable

log = logging.getLogger("gesso.worker")


class HeldJobs:
    """The ids of the jobs a worker runs now, and the thread that renews their leases every
    `heartbeat_s` until `stopping` is set and none is left."""

    def __init__(self, queue: JobQueue, heartbeat_s: float, stopping: threading.Event, name: str):
        self.queue = queue
        self.heartbeat_s = heartbeat_s
        self.stopping = stopping
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._renew, name=name, daemon=True)

    @property
    def ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._ids)

    def hold(self, jobs: list[ClaimedJob]) -> None:
        with self._lock:
            self._ids.update(job.id for job in jobs)

    def let_go(self, jobs: list[ClaimedJob]) -> None:
        """Stop renewing these jobs' leases (ended, handed back, or left to lapse)."""
        with self._lock:
            self._ids.difference_update(job.id for job in jobs)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _renew(self) -> None:
        while True:
            time.sleep(self.heartbeat_s)
            running = sorted(self.ids)
            if self.stopping.is_set() and not running:
                return
            if not running:
                continue
            try:
                held = self.queue.renew(running)
            except Exception:  # a failed renewal is retried at the next beat
                log.warning("could not renew the leases of %s", running, exc_info=True)
                continue
            lost = set(running) - set(held)
            if lost:
                log.warning("lost the lease of %s (finished or taken elsewhere)", sorted(lost))


class ShutdownClock:
    """`drain(grace_s)` starts a shutdown: claim nothing more, and the running work may go on
    for `grace_s` before it is stopped and its jobs handed back."""

    def __init__(self) -> None:
        self.draining = threading.Event()
        self._abort_at: float | None = None

    def drain(self, grace_s: float) -> None:
        if not self.draining.is_set():
            self._abort_at = time.monotonic() + max(0.0, grace_s)
            self.draining.set()

    def should_abort(self) -> bool:
        return self._abort_at is not None and time.monotonic() >= self._abort_at


def release_quietly(queue: JobQueue, jobs: list[ClaimedJob]) -> None:
    """Hand jobs back uncounted; if that cannot be written either, their leases lapse."""
    try:
        queue.release([job.id for job in jobs])
    except Exception:
        log.exception("could not hand jobs %s back; they run again when their lease lapses", [job.id for job in jobs])


def fail_quietly(queue: JobQueue, job: ClaimedJob, message: str) -> None:
    """Mark a job failed; if even that fails, the job's lease lapses and it runs again."""
    try:
        queue.fail(job.id, "generation_failed", message)
    except Exception:
        log.exception("could not mark job %s failed", job.id, extra={"request_id": job.request_id})


def deliver(queue: JobQueue, events: JobEvents, finished: FinishedJob) -> None:
    """Store a finished job's images and announce the end. A queue that cannot write hands the
    job back with no event (a waiting client keeps waiting for the re-run); any other error
    fails the job."""
    job = finished.job
    try:
        stored = queue.complete(finished)
    except QueueUnavailable:
        log.exception("storing the images of job %s failed; it runs again", job.id, extra={"request_id": job.request_id})
        release_quietly(queue, [job])
        return
    except Exception as exc:
        log.exception("storing the images of job %s failed", job.id, extra={"request_id": job.request_id})
        fail_quietly(queue, job, f"storing images failed: {exc.__class__.__name__}")
        stored = False
    events.publish(JobFinished(job.id, succeeded=stored))
