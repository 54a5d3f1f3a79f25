"""The worker that drains the job queue. One small interface; the embedded worker is a thread in
the server process (a Ray-backed worker can implement the same three methods)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from gesso.engine.image_encoding import encode_image
from gesso.engine.job_execution import execute_jobs
from gesso.engine.job_queue import JobQueue
from gesso.engine.jobs import ClaimedJob
from gesso.engine.progress_events import JobEvents, JobFinished, PartialImage
from gesso.model.pipeline_gesso import GessoPipeline

log = logging.getLogger("gesso.worker")


class Worker(Protocol):
    def start(self) -> None: ...

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        ...

    def stop(self, timeout: float = 10.0) -> None: ...

    @property
    def ready(self) -> bool:
        """The default model is loaded and the worker is running."""
        ...


@dataclass
class WorkerObserver:
    """Hooks for metrics: a pipeline call of `size` images; `count` images finished."""

    batch: Callable[[int], None] = lambda size: None
    images: Callable[[int], None] = lambda count: None


class EmbeddedWorker:
    """A daemon thread: claim compatible jobs, run them as batches, complete or fail each job."""

    def __init__(
        self,
        queue: JobQueue,
        pipelines: Callable[[str], GessoPipeline],
        events: JobEvents,
        max_batch_images: int,
        preload_model: str | None = None,
        observer: WorkerObserver | None = None,
        poll_seconds: float = 0.5,
    ):
        self.queue = queue
        self.pipelines = pipelines
        self.events = events
        self.max_batch_images = max(1, max_batch_images)
        self.preload_model = preload_model
        self.observer = observer or WorkerObserver()
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gesso-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        if self.preload_model is not None:
            try:
                self.pipelines(self.preload_model)
            except Exception:
                log.exception("could not load the default model %s", self.preload_model)
                return
        self._ready.set()
        while not self._stopping.is_set():
            try:
                jobs = self.queue.claim_batch(self.max_batch_images)
            except Exception:
                log.exception("claiming jobs failed")
                jobs = []
            if not jobs:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            try:
                self.run_jobs(jobs)
            except Exception:  # never let one batch end the worker
                log.exception("running jobs %s failed", [job.id for job in jobs])

    def run_jobs(self, jobs: list[ClaimedJob]) -> None:
        """Run claimed jobs; if a shared batch fails, run each alone so one bad job fails alone."""
        started = time.perf_counter()
        try:
            results = self._execute(jobs)
        except Exception as exc:
            if len(jobs) > 1:
                for job in jobs:
                    self.run_jobs([job])
                return
            log.exception("job %s failed", jobs[0].id, extra={"request_id": jobs[0].request_id})
            self._fail_quietly(jobs[0], f"generation failed: {exc.__class__.__name__}")
            self.events.publish(JobFinished(jobs[0].id, succeeded=False))
            return
        for job in jobs:
            try:
                stored = self.queue.complete(job.id, results[job.id])
            except Exception as exc:
                log.exception("storing the images of job %s failed", job.id, extra={"request_id": job.request_id})
                self._fail_quietly(job, f"storing images failed: {exc.__class__.__name__}")
                stored = False
            self.events.publish(JobFinished(job.id, succeeded=stored))
        count = sum(len(images) for images in results.values())
        self.observer.images(count)
        log.info(
            "ran %d job(s), %d image(s) in %.2fs",
            len(jobs),
            count,
            time.perf_counter() - started,
            extra={"request_id": ",".join(job.request_id for job in jobs), "jobs": [job.id for job in jobs]},
        )

    def _fail_quietly(self, job: ClaimedJob, message: str) -> None:
        """Mark a job failed; if even that fails, the job stays running and is re-run on restart."""
        try:
            self.queue.fail(job.id, "generation_failed", message)
        except Exception:
            log.exception("could not mark job %s failed", job.id, extra={"request_id": job.request_id})

    def _execute(self, jobs: list[ClaimedJob]) -> dict:
        pipe = self.pipelines(jobs[0].spec.model)
        return execute_jobs(
            pipe,
            jobs,
            self.max_batch_images,
            wants_partials=lambda job: self.events.wants_partials(job.id),
            on_partial=self._publish_partial,
            on_batch=self.observer.batch,
        )

    def _publish_partial(self, job: ClaimedJob, image_index: int, partial_index: int, image: torch.Tensor) -> None:
        data = encode_image(image, job.spec.output_format, job.spec.output_compression)
        self.events.publish(PartialImage(job.id, image_index, partial_index, data))
