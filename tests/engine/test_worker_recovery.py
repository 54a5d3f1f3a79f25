"""The worker survives writes the queue cannot make (the job runs again, uncounted, never
failed), and a drain hands the running batch back once its grace period is over."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from gesso.engine.finetune_worker import FineTuneWorker
from gesso.engine.progress_events import JobEvents
from gesso.engine.worker import EmbeddedWorker
from gesso.jobs.fine_tunes import ClaimedFineTune
from gesso.jobs.queue_errors import QueueUnavailable
from gesso.store.tables import Job
from gesso.train.run_config import FinetuneRunConfig
from tests.engine.test_worker import enqueue, queue  # noqa: F401 - the fixture


class FlakyStore:
    """A queue whose first `complete` cannot be written (the database was locked throughout)."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 1

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def complete(self, finished):
        if self.failures:
            self.failures -= 1
            raise QueueUnavailable("database is locked")
        return self.inner.complete(finished)


def pipelines_of(tiny_pipeline):
    return lambda name: tiny_pipeline


def wait_for_status(jobs, job_id: str, wanted: set[str], timeout: float = 30.0) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        with jobs.sessions() as session:
            job = session.get(Job, job_id)
        if job.status in wanted or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_an_unwritable_result_is_handed_back_and_run_again_not_failed(queue, tiny_pipeline):  # noqa: F811
    enqueue(queue, "job_a")
    worker = EmbeddedWorker(FlakyStore(queue), pipelines_of(tiny_pipeline), JobEvents(), 4, poll_seconds=0.05)
    worker.start()
    try:
        job = wait_for_status(queue, "job_a", {"succeeded", "failed"})
        assert worker.ready  # the thread lives on
    finally:
        worker.stop()
    assert (job.status, job.attempts) == ("succeeded", 1)


def test_drain_hands_the_running_batch_back_after_the_grace_period(queue, tiny_pipeline):  # noqa: F811
    enqueue(queue, "job_long", steps=100)
    enqueue(queue, "job_next")
    worker = EmbeddedWorker(queue, pipelines_of(tiny_pipeline), JobEvents(), 1, poll_seconds=0.05)
    worker.start()
    try:
        assert wait_for_status(queue, "job_long", {"running"}).status == "running"
        worker.drain(grace_s=0.0)
        job = wait_for_status(queue, "job_long", {"queued"})
    finally:
        worker.stop(timeout=5.0)
    assert (job.status, job.attempts, job.lease_owner) == ("queued", 0, None)  # not counted
    with queue.sessions() as session:
        assert session.scalar(select(Job.status).where(Job.id == "job_next")) == "queued"  # nothing new claimed


class FineTuneQueueThatCannotWrite:
    def __init__(self):
        self.claims = 0
        self.released: list[tuple[str, str]] = []
        self.claimed = threading.Event()

    def prepare_pending(self):
        pass

    def claim_next(self):
        self.claims += 1
        if self.claims == 1:
            raise QueueUnavailable("database is locked")  # reading the queue failed
        if self.claims == 2:
            return ClaimedFineTune("ftjob_a", FinetuneRunConfig())
        self.claimed.set()
        return None

    def requested_action(self, job_id):
        return None

    def fetch_data(self, job_id):
        return True

    def renew(self, job_id):
        return True

    def record(self, job_id, event):
        raise QueueUnavailable("database is locked")

    def finish(self, job_id, result):
        raise AssertionError("not reached")

    def fail(self, job_id, code, message):
        raise AssertionError("a failed write must not fail the fine-tune")

    def release(self, job_id, reason="Server stopping"):
        self.released.append((job_id, reason))


def test_a_failed_write_neither_fails_the_fine_tune_nor_ends_its_worker():
    fine_tunes = FineTuneQueueThatCannotWrite()
    worker = FineTuneWorker(fine_tunes, poll_seconds=0.05)

    def train(job, lost):
        fine_tunes.record(job.id, None)  # the loop's first event cannot be stored

    worker._train = train  # the real loop needs a model; the write is what is under test
    worker.start()
    try:
        assert fine_tunes.claimed.wait(10)
        assert worker.alive
    finally:
        worker.stop(timeout=5)
    assert fine_tunes.released == [("ftjob_a", "The database could not be written")]
