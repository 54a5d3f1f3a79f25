"""The worker that drains the job queue. One small interface; the embedded worker is a thread in
the server process (a Ray-backed worker can implement the same methods)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from gesso.engine.batch_filling import top_up
from gesso.engine.held_jobs import HeldJobs, ShutdownClock, deliver, fail_quietly, release_quietly
from gesso.engine.image_encoding import encode_image
from gesso.engine.job_execution import BatchAborted, execute_jobs
from gesso.engine.progress_events import JobEvents, JobFinished, PartialImage
from gesso.engine.thread_budget import ThreadBudget, process_thread_budget
from gesso.engine.worker_thread import WorkerThread
from gesso.jobs.image_jobs import ClaimedJob, FinishedJob, JobQueue
from gesso.jobs.job_previews import PreviewChannel
from gesso.model.pipeline_gesso import GessoPipeline

log = logging.getLogger("gesso.worker")


class Worker(Protocol):
    def start(self) -> None: ...

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        ...

    def drain(self, grace_s: float) -> None:
        """Shutdown begins: claim nothing more; the running batch may finish within `grace_s`,
        after that it is stopped and its jobs handed back to the queue (no attempt counted)."""
        ...

    def stop(self, timeout: float = 10.0) -> None: ...

    @property
    def ready(self) -> bool:
        """The default model is loaded and the worker is running."""
        ...

    @property
    def running_jobs(self) -> frozenset[str]:
        """Ids of the jobs in the batch being run now."""
        ...


@dataclass
class WorkerObserver:
    """Hooks for metrics: a pipeline call of `size` images; `count` images finished; a run of
    `images` images that took `seconds` (for the expected-wait estimate)."""

    batch: Callable[[int], None] = lambda size: None
    images: Callable[[int], None] = lambda count: None
    throughput: Callable[[int, float], None] = lambda images, seconds: None


class EmbeddedWorker:
    """A daemon thread: claim compatible jobs, run them as batches, complete or fail each job.

    A second thread renews the leases of the running jobs every `heartbeat_s`, so a job whose
    worker stops making progress can be claimed again once its lease lapses. A write the queue
    cannot make (database locked or gone) never fails a job: the job is handed back, or left to
    its lease. A batch with room left waits up to `batch_wait_s` for compatible jobs before it
    runs (engine/batch_filling.py).

    Previews go to this process's `events`, and to `previews` too when given (requests waiting
    on other replicas read them there).
    """

    def __init__(
        self,
        queue: JobQueue,
        pipelines: Callable[[str], GessoPipeline],
        events: JobEvents,
        max_batch_images: int,
        preload_model: str | None = None,
        observer: WorkerObserver | None = None,
        poll_seconds: float = 0.5,
        heartbeat_s: float = 20.0,
        threads: ThreadBudget | None = None,
        previews: PreviewChannel | None = None,
        batch_wait_s: float = 0.0,
    ):
        self.queue = queue
        self.batch_wait_s = batch_wait_s
        self.previews = previews
        self.threads = threads or process_thread_budget()
        self.pipelines = pipelines
        self.events = events
        self.max_batch_images = max(1, max_batch_images)
        self.preload_model = preload_model
        self.observer = observer or WorkerObserver()
        self.heartbeat_s = heartbeat_s
        self._loop = WorkerThread("gesso-worker", poll_seconds)
        self._shutdown = ShutdownClock()
        self._ready = threading.Event()
        self._held = HeldJobs(queue, heartbeat_s, self._loop.stopping, "gesso-worker-leases")

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._loop.alive

    @property
    def running_jobs(self) -> frozenset[str]:
        return self._held.ids

    @property
    def alive(self) -> bool:
        """The thread runs (it ends when stopped, or when the default model cannot be loaded)."""
        return self._loop.alive

    def start(self) -> None:
        self._loop.start(self._run)
        self._held.start()

    def wake(self) -> None:
        self._loop.wake()

    def drain(self, grace_s: float) -> None:
        self._shutdown.drain(grace_s)
        self._loop.wake()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain (if not yet) and wait up to `timeout` for the thread to end."""
        self.drain(timeout)
        self._loop.stop(timeout + 5.0)  # the abort itself takes up to one denoising step
        self._held.join(1.0)

    def _run(self) -> None:
        if self.preload_model is not None:
            try:
                self.pipelines(self.preload_model)
            except Exception:
                log.exception("could not load the default model %s", self.preload_model)
                return
        self._ready.set()
        while not self._loop.stopping.is_set() and not self._shutdown.draining.is_set():
            try:
                jobs = self.queue.claim_batch(self.max_batch_images)
            except Exception:
                log.exception("claiming jobs failed")
                jobs = []
            if not jobs:
                self._loop.idle()
                continue
            jobs = top_up(self.queue, jobs, self.max_batch_images, self.batch_wait_s, self._idle_for_more)
            self._held.hold(jobs)
            try:
                self.run_jobs(jobs)
            except Exception:  # never let one batch end the worker
                log.exception("running jobs %s failed", [job.id for job in jobs])
            finally:
                self._held.let_go(jobs)
                self._forget_previews(jobs)

    def _idle_for_more(self, seconds: float) -> bool:
        """A batch's wait for more jobs: False (claim nothing more) once stopping or draining."""
        return self._loop.idle(seconds) and not self._shutdown.draining.is_set()

    def _forget_previews(self, jobs: list[ClaimedJob]) -> None:
        if self.previews is None:
            return
        try:
            self.previews.ended([job.id for job in jobs])
        except Exception:  # previews are a convenience: never end the worker over them
            log.exception("the preview channel failed")

    def run_jobs(self, jobs: list[ClaimedJob]) -> None:
        """Run claimed jobs; if a shared batch fails, run each alone so one bad job fails alone."""
        started = time.perf_counter()
        try:
            finished_jobs = self._execute(jobs)
        except BatchAborted:
            log.info("shutdown: handing jobs %s back to the queue", [job.id for job in jobs])
            release_quietly(self.queue, jobs)
            return
        except Exception as exc:
            if len(jobs) > 1:
                for job in jobs:
                    self.run_jobs([job])
                return
            log.exception("job %s failed", jobs[0].id, extra={"request_id": jobs[0].request_id})
            fail_quietly(self.queue, jobs[0], f"generation failed: {exc.__class__.__name__}")
            self.events.publish(JobFinished(jobs[0].id, succeeded=False))
            return
        seconds = time.perf_counter() - started
        for finished in finished_jobs:
            deliver(self.queue, self.events, finished)
        count = sum(len(finished.images) for finished in finished_jobs)
        self.observer.images(count)
        self.observer.throughput(count, seconds)
        log.info(
            "ran %d job(s), %d image(s) in %.2fs",
            len(jobs),
            count,
            time.perf_counter() - started,
            extra={"request_id": ",".join(job.request_id for job in jobs), "jobs": [job.id for job in jobs],
                   "images": count, "seconds": round(seconds, 3)},
        )

    def _execute(self, jobs: list[ClaimedJob]) -> list[FinishedJob]:
        pipe = self.pipelines(jobs[0].request.model)
        with self.threads.running("generation"):
            return execute_jobs(
                pipe,
                jobs,
                self.max_batch_images,
                wants_partials=self._wants_partials,
                on_partial=self._publish_partial,
                on_batch=self.observer.batch,
                should_abort=self._shutdown.should_abort,
            )

    def _wants_partials(self, job: ClaimedJob) -> bool:
        return self.events.wants_partials(job.id) or (self.previews is not None and self.previews.wants(job))

    def _publish_partial(self, job: ClaimedJob, image_index: int, partial_index: int, image: torch.Tensor) -> None:
        data = encode_image(image, job.request.output_format, job.request.output_compression)
        self.events.publish(PartialImage(job.id, image_index, partial_index, data))
        if self.previews is not None:
            self.previews.publish(job, image_index, partial_index, data)


class NoWorker:
    """The worker of a process that runs no jobs (`gesso serve --no-worker`): separate worker
    processes find its jobs in the database, so waking, draining and stopping do nothing."""

    ready = True
    running_jobs: frozenset[str] = frozenset()

    def start(self) -> None:
        pass

    def wake(self) -> None:
        pass

    def drain(self, grace_s: float) -> None:
        pass

    def stop(self, timeout: float = 10.0) -> None:
        pass
