"""The SQL job queue: compatible claims, all-or-nothing completion, recovery after a crash."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from sqlalchemy import select

from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.image_jobs import EncodedImage, FinishedImage, FinishedJob
from gesso.jobs.queue_errors import QueueFull
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import database_url, open_database
from gesso.store.sql_job_queue import SqlJobQueue, add_job
from gesso.store.tables import ImageRecord, Job, Tenant


@pytest.fixture()
def queue(tmp_path):
    sessions = open_database(database_url(tmp_path))
    with sessions.begin() as session:
        create_tenant(session, "acme")
    return SqlJobQueue(sessions, LocalBlobStore(tmp_path / "blobs"), max_attempts=2)


def enqueue(
    queue: SqlJobQueue, job_id: str, n: int = 1, steps: int = 4, max_waiting: int = 100, output_format: str = "png"
) -> GenerationRequest:
    spec = GenerationRequest(kind="generate", model="m", prompt="p", n=n, size=(32, 32), steps=steps, guidance=4.0,
                             seed=1, output_format=output_format, output_compression=80)
    with queue.sessions.begin() as session:
        tenant_id = session.scalar(select(Tenant.id))
        add_job(
            session,
            Job(id=job_id, tenant_id=tenant_id, api_key_id="k", kind="generate", model="m",
                batch_key=spec.batch_key(), spec_json=spec.to_json(), n=n, response_format="b64_json",
                request_sha256="x", attempts=0, created_at=time.time()),
            max_waiting,
        )
    return spec


def image(index: int) -> EncodedImage:
    return EncodedImage(index=index, seed=index, data=b"png%d" % index, content_type="image/png", width=32, height=32)


def test_claim_takes_compatible_jobs_up_to_max_images(queue):
    enqueue(queue, "job_a", n=2)
    enqueue(queue, "job_b", n=1, steps=8)  # different steps: another batch
    enqueue(queue, "job_c", n=2)
    enqueue(queue, "job_d", n=1)
    first = queue.claim_batch(max_images=3)
    assert [job.id for job in first] == ["job_a", "job_d"]  # job_c would exceed 3 images
    assert [job.id for job in queue.claim_batch(max_images=3)] == ["job_b"]
    assert [job.id for job in queue.claim_batch(max_images=3)] == ["job_c"]
    assert queue.claim_batch(max_images=3) == []


def test_a_top_up_claims_only_jobs_of_its_key_that_fit(queue):
    key = enqueue(queue, "job_a", n=1).batch_key()
    enqueue(queue, "job_b", n=1, steps=8)  # older than job_c, but another batch
    enqueue(queue, "job_c", n=3)  # its key, but more images than the room left
    enqueue(queue, "job_d", n=1)
    assert [job.id for job in queue.claim_batch(max_images=1)] == ["job_a"]
    assert [job.id for job in queue.claim_batch(max_images=2, batch_key=key)] == ["job_d"]
    assert queue.claim_batch(max_images=2, batch_key=key) == []
    assert [job.id for job in queue.claim_batch(max_images=3)] == ["job_b"]


def test_complete_writes_images_once(queue):
    enqueue(queue, "job_a", n=2)
    [claimed] = queue.claim_batch(8)
    assert queue.store_images(claimed.id, [image(0), image(1)]) is True
    assert queue.store_images(claimed.id, [image(0), image(1)]) is False  # already finished
    with queue.sessions() as session:
        rows = session.scalars(select(ImageRecord).order_by(ImageRecord.index)).all()
        assert [row.index for row in rows] == [0, 1]
        assert session.get(Job, "job_a").status == "succeeded"
    assert queue.blobs.get(rows[1].blob_key) == b"png1"


def test_a_claimed_job_carries_its_request_as_queued(queue):
    queued = enqueue(queue, "job_a", n=2)
    [claimed] = queue.claim_batch(8)
    assert type(claimed.request) is GenerationRequest and claimed.request == queued


def test_complete_encodes_the_pixels_once_in_the_requested_format(queue):
    enqueue(queue, "job_a", output_format="jpeg")
    [claimed] = queue.claim_batch(8)
    pixels = Image.new("RGB", (32, 32), (200, 30, 30))
    assert queue.complete(FinishedJob(claimed, [FinishedImage(0, 1, pixels)])) is True
    with queue.sessions() as session:
        [row] = session.scalars(select(ImageRecord)).all()
    assert (row.content_type, row.width, row.height, row.blob_key.endswith(".jpg")) == ("image/jpeg", 32, 32, True)
    stored = Image.open(io.BytesIO(queue.blobs.get(row.blob_key)))
    assert stored.format == "JPEG" and stored.size == (32, 32)


def test_requeue_interrupted_reruns_then_gives_up(queue, tmp_path):
    enqueue(queue, "job_a")
    queue.claim_batch(8)
    with queue.sessions() as session:
        tenant_id = session.get(Job, "job_a").tenant_id
    half_written = tmp_path / "blobs" / tenant_id / "images" / "job_a" / "0.png"
    half_written.parent.mkdir(parents=True)
    half_written.write_bytes(b"partial")
    assert queue.requeue_interrupted() == 1  # crash while running: back in the queue
    assert not half_written.exists()
    [again] = queue.claim_batch(8)
    assert again.id == "job_a"
    queue.requeue_interrupted()  # second crash with max_attempts=2: failed for good
    with queue.sessions() as session:
        job = session.get(Job, "job_a")
        assert (job.status, job.error_code, job.attempts) == ("failed", "job_interrupted", 2)
    assert queue.claim_batch(8) == []


def test_fail_marks_the_job_and_removes_its_images(queue):
    enqueue(queue, "job_a")
    queue.claim_batch(8)
    queue.fail("job_a", "generation_failed", "boom")
    with queue.sessions() as session:
        assert session.get(Job, "job_a").status == "failed"
    assert queue.store_images("job_a", [image(0)]) is False


def test_bounded_queue_refuses_new_jobs(queue):
    enqueue(queue, "job_a", max_waiting=2)
    enqueue(queue, "job_b", max_waiting=2)
    with pytest.raises(QueueFull) as refused:
        enqueue(queue, "job_c", max_waiting=2)
    assert refused.value.retry_after >= 1
    with queue.sessions() as session:
        assert session.get(Job, "job_c") is None
