"""The embedded worker on a tiny real pipeline and the SQL queue: batching, failures, events."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from gesso.engine.job_execution import partial_steps
from gesso.engine.progress_events import JobEvents
from gesso.engine.worker import EmbeddedWorker, WorkerObserver
from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import database_url, open_database
from gesso.store.sql_job_queue import SqlJobQueue, add_job
from gesso.store.tables import ImageRecord, Job


@pytest.fixture()
def queue(tmp_path):
    sessions = open_database(database_url(tmp_path))
    with sessions.begin() as session:
        create_tenant(session, "acme")
    return SqlJobQueue(sessions, LocalBlobStore(tmp_path / "blobs"))


def enqueue(queue: SqlJobQueue, job_id: str, model: str = "tiny", n: int = 1, steps: int = 2) -> None:
    from gesso.store.tables import Tenant

    spec = GenerationRequest(kind="generate", model=model, prompt=job_id, n=n, size=(32, 32), steps=steps,
                        guidance=4.0, seed=5)
    with queue.sessions.begin() as session:
        add_job(
            session,
            Job(id=job_id, tenant_id=session.scalar(select(Tenant.id)), api_key_id="k", kind="generate",
                model=model, batch_key=spec.batch_key(), spec_json=spec.to_json(), n=n,
                response_format="b64_json", request_sha256="x", attempts=0, created_at=time.time()),
            max_waiting=100,
        )


def make_worker(queue, tiny_pipeline, batches: list[int], max_batch: int = 4) -> EmbeddedWorker:
    def pipelines(name: str):
        if name != "tiny":
            raise LookupError(name)
        return tiny_pipeline

    return EmbeddedWorker(queue, pipelines, JobEvents(), max_batch,
                          observer=WorkerObserver(batch=batches.append), poll_seconds=0.05)


def test_worker_batches_compatible_jobs_and_stores_each_set(queue, tiny_pipeline):
    for job_id, n in [("job_a", 2), ("job_b", 1), ("job_c", 1)]:
        enqueue(queue, job_id, n=n)
    enqueue(queue, "job_d", steps=3)  # incompatible: its own call
    batches: list[int] = []
    worker = make_worker(queue, tiny_pipeline, batches)
    worker.run_jobs(queue.claim_batch(4))
    worker.run_jobs(queue.claim_batch(4))
    assert batches == [4, 1]
    with queue.sessions() as session:
        assert {job.status for job in session.scalars(select(Job))} == {"succeeded"}
        counts = {job_id: len(session.scalars(select(ImageRecord).where(ImageRecord.job_id == job_id)).all())
                  for job_id in ("job_a", "job_b", "job_c", "job_d")}
    assert counts == {"job_a": 2, "job_b": 1, "job_c": 1, "job_d": 1}


def test_one_failing_job_fails_alone_and_the_worker_goes_on(queue, tiny_pipeline):
    enqueue(queue, "job_bad", model="missing-model")
    enqueue(queue, "job_good")
    worker = make_worker(queue, tiny_pipeline, [])
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with queue.sessions() as session:
                statuses = {job.id: job.status for job in session.scalars(select(Job))}
            if set(statuses.values()) <= {"succeeded", "failed"}:
                break
            time.sleep(0.05)
        assert worker.ready
    finally:
        worker.stop()
    assert statuses == {"job_bad": "failed", "job_good": "succeeded"}


def test_worker_publishes_partial_images_and_the_end(queue, tiny_pipeline):
    spec_steps = 4
    from gesso.store.tables import Tenant

    spec = GenerationRequest(kind="generate", model="tiny", prompt="p", n=1, size=(32, 32), steps=spec_steps,
                        guidance=4.0, seed=1, partial_images=2)
    with queue.sessions.begin() as session:
        add_job(session, Job(id="job_s", tenant_id=session.scalar(select(Tenant.id)), api_key_id="k",
                             kind="generate", model="tiny", batch_key=spec.batch_key(), spec_json=spec.to_json(),
                             n=1, response_format="b64_json", request_sha256="x", attempts=0,
                             created_at=time.time()), 100)
    worker = make_worker(queue, tiny_pipeline, [])

    async def watch():
        events = worker.events.subscribe("job_s", partials=True)
        await asyncio.get_running_loop().run_in_executor(None, worker.run_jobs, queue.claim_batch(4))
        await asyncio.sleep(0.05)
        return [events.get_nowait() for _ in range(events.qsize())]

    events = asyncio.run(watch())
    kinds = [type(event).__name__ for event in events]
    assert kinds == ["PartialImage", "PartialImage", "JobFinished"]
    assert [event.partial_index for event in events[:2]] == [0, 1]
    assert events[0].data.startswith(b"\x89PNG") and events[-1].succeeded


def test_worker_hands_previews_to_its_channel_when_no_request_here_watches(queue, tiny_pipeline):
    from gesso.store.tables import Tenant

    spec = GenerationRequest(kind="generate", model="tiny", prompt="p", n=2, size=(32, 32), steps=4,
                             guidance=4.0, seed=1, partial_images=2)
    with queue.sessions.begin() as session:
        add_job(session, Job(id="job_remote", tenant_id=session.scalar(select(Tenant.id)), api_key_id="k",
                             kind="generate", model="tiny", batch_key=spec.batch_key(), spec_json=spec.to_json(),
                             n=2, response_format="b64_json", request_sha256="x", attempts=0,
                             created_at=time.time()), 100)

    class Channel:
        def __init__(self) -> None:
            self.previews: list[tuple[str, int, int, bytes]] = []
            self.finished: list[str] = []

        def wants(self, job) -> bool:  # noqa: ANN001
            return job.request.partial_images > 0

        def publish(self, job, image_index: int, partial_index: int, data: bytes) -> None:  # noqa: ANN001
            self.previews.append((job.id, image_index, partial_index, data))

        def ended(self, job_ids: list[str]) -> None:
            self.finished.extend(job_ids)

    channel = Channel()
    worker = EmbeddedWorker(queue, lambda name: tiny_pipeline, JobEvents(), 4, poll_seconds=0.05, previews=channel)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not channel.finished and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert sorted(p[1:3] for p in channel.previews) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(p[0] == "job_remote" and p[3].startswith(b"\x89PNG") for p in channel.previews)
    assert channel.finished == ["job_remote"]


@pytest.mark.parametrize(("total", "partials", "expected"), [(4, 2, [1, 3]), (10, 3, [2, 5, 8]), (1, 3, []), (6, 0, [])])
def test_partial_steps_are_spread_before_the_end(total, partials, expected):
    assert partial_steps(total, partials) == expected
