"""The image worker of the Ray engine: the same job contract as the embedded worker (claim
batches from the queue with leases, renew them, finish each job through the queue), with the
pipeline calls made by the generation deployment on Ray Serve.

Each claimed job becomes one Serve request, all of a batch sent at once so that the replica's
`@serve.batch` gathers them. A job whose replica died is sent again (`resends` times); past that
its lease is left to lapse, so the next claim counts the attempt and `job_max_attempts` ends a job
that keeps killing replicas. A job is finished only through `queue.complete`, whose single
completion of the row is what delivers each job exactly once, however often it was sent.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from gesso.engine.held_jobs import HeldJobs, ShutdownClock, deliver, fail_quietly, release_quietly
from gesso.engine.progress_events import JobEvents, JobFinished
from gesso.engine.ray_job_dispatch import Done, Failed, JobDispatch, Lost
from gesso.engine.worker import WorkerObserver
from gesso.engine.worker_thread import WorkerThread
from gesso.jobs.image_jobs import ClaimedJob, FinishedJob, JobQueue

log = logging.getLogger("gesso.worker")
POLL_RESULT_S = 0.5


class RayImageWorker:
    """Claims up to `batches_in_flight` batches at a time and runs them on Ray Serve."""

    def __init__(
        self,
        queue: JobQueue,
        dispatch: JobDispatch,
        events: JobEvents,
        max_batch_images: int,
        batches_in_flight: int = 2,
        resends: int = 2,
        observer: WorkerObserver | None = None,
        poll_seconds: float = 0.5,
        heartbeat_s: float = 20.0,
    ):
        self.queue = queue
        self.dispatch = dispatch
        self.events = events
        self.max_batch_images = max(1, max_batch_images)
        self.batches_in_flight = max(1, batches_in_flight)
        self.resends = resends
        self.observer = observer or WorkerObserver()
        self.heartbeat_s = heartbeat_s
        self._loop = WorkerThread("gesso-ray-worker", poll_seconds)
        self._pool = ThreadPoolExecutor(self.batches_in_flight, thread_name_prefix="gesso-ray-batch")
        self._slots = threading.Semaphore(self.batches_in_flight)
        self._shutdown = ShutdownClock()
        self._held = HeldJobs(queue, heartbeat_s, self._loop.stopping, "gesso-ray-worker-leases")
        self.resent = 0  # requests sent again after their replica died (for metrics and tests)

    @property
    def ready(self) -> bool:
        return self._loop.alive

    @property
    def alive(self) -> bool:
        return self._loop.alive

    @property
    def running_jobs(self) -> frozenset[str]:
        return self._held.ids

    def start(self) -> None:
        self._loop.start(self._run)
        self._held.start()

    def wake(self) -> None:
        self._loop.wake()

    def drain(self, grace_s: float) -> None:
        self._shutdown.drain(grace_s)
        self._loop.wake()

    def stop(self, timeout: float = 10.0) -> None:
        self.drain(timeout)
        self._loop.stop(timeout + 5.0)
        self._pool.shutdown(wait=True, cancel_futures=False)
        self._held.join(1.0)

    def _run(self) -> None:
        while not self._loop.stopping.is_set() and not self._shutdown.draining.is_set():
            if not self._slots.acquire(timeout=self._loop.poll_seconds):
                continue
            try:
                jobs = self.queue.claim_batch(self.max_batch_images)
            except Exception:
                log.exception("claiming jobs failed")
                jobs = []
            if not jobs:
                self._slots.release()
                self._loop.idle()
                continue
            self._held.hold(jobs)
            self._pool.submit(self._run_claimed, jobs)

    def _run_claimed(self, jobs: list[ClaimedJob]) -> None:
        try:
            self.run_jobs(jobs)
        except Exception:  # never let one batch end the worker
            log.exception("running jobs %s failed", [job.id for job in jobs])
        finally:
            self._held.let_go(jobs)
            self._slots.release()

    def run_jobs(self, jobs: list[ClaimedJob]) -> None:
        """Send the jobs together, then finish each as its answer comes: stored, failed, sent
        again, handed back (shutdown) or left to its lease."""
        started = time.perf_counter()
        pending = {}
        sends = {job.id: 0 for job in jobs}
        for job in jobs:
            self._send(job, pending)
        images = 0
        while pending:
            for job_id in list(pending):
                job, response = pending[job_id]
                if self._shutdown.should_abort():
                    response.cancel()
                    del pending[job_id]
                    release_quietly(self.queue, [job])
                    continue
                outcome = self.dispatch.outcome(response, POLL_RESULT_S / max(1, len(pending)))
                if outcome is None:
                    continue
                del pending[job_id]
                if isinstance(outcome, Done):
                    images += len(outcome.images)
                    deliver(self.queue, self.events, FinishedJob(job, outcome.images))
                elif isinstance(outcome, Failed):
                    self._fail(job, outcome.message)
                elif isinstance(outcome, Lost) and sends[job_id] < self.resends and not self._shutdown.draining.is_set():
                    sends[job_id] += 1
                    self.resent += 1
                    log.warning("the replica running job %s was lost (%s); sending it again", job.id,
                                outcome.reason, extra={"request_id": job.request_id})
                    self._send(job, pending)
                else:
                    log.error("job %s was lost %d time(s); its lease lapses and it is claimed again",
                              job.id, sends[job_id] + 1, extra={"request_id": job.request_id})
                    self._held.let_go([job])  # the lease lapses: the next claim counts an attempt
        seconds = time.perf_counter() - started
        if images:
            self.observer.images(images)
            self.observer.throughput(images, seconds)
        log.info("ran %d job(s), %d image(s) in %.2fs on Ray Serve", len(jobs), images, seconds,
                 extra={"request_id": ",".join(job.request_id for job in jobs), "jobs": [job.id for job in jobs],
                        "images": images, "seconds": round(seconds, 3)})

    def _send(self, job: ClaimedJob, pending: dict) -> None:
        try:
            pending[job.id] = (job, self.dispatch.send(job))
        except LookupError as error:
            self._fail(job, str(error))
        except Exception as error:  # noqa: BLE001 - the adapter could not be read or put
            log.exception("could not send job %s", job.id, extra={"request_id": job.request_id})
            self._fail(job, f"generation failed: {error.__class__.__name__}")

    def _fail(self, job: ClaimedJob, message: str) -> None:
        log.error("job %s failed: %s", job.id, message, extra={"request_id": job.request_id})
        fail_quietly(self.queue, job, message)
        self.events.publish(JobFinished(job.id, succeeded=False))
