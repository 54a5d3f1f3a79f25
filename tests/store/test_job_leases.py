"""Job leases: a job whose worker stops renewing is claimed again; attempts count crashes only;
writes retry through a locked database and then say so (QueueUnavailable), never lose the job."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import select, update

from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.image_jobs import EncodedImage
from gesso.jobs.queue_errors import QueueUnavailable
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import DATABASE_FILE, database_url, open_database
from gesso.store.sql_job_queue import SqlJobQueue, add_job
from gesso.store.tables import ImageRecord, Job, Tenant


@pytest.fixture()
def sessions(tmp_path):
    sessions = open_database(database_url(tmp_path), busy_timeout_s=0.1)
    with sessions.begin() as session:
        create_tenant(session, "acme")
    return sessions


def make_queue(sessions, tmp_path, owner: str, **kw) -> SqlJobQueue:
    return SqlJobQueue(sessions, LocalBlobStore(tmp_path / "blobs"), max_attempts=2, owner=owner, **kw)


def enqueue(sessions, job_id: str) -> None:
    spec = GenerationRequest(kind="generate", model="m", prompt="p", n=1, size=(32, 32), steps=2, guidance=4.0, seed=1)
    with sessions.begin() as session:
        add_job(
            session,
            Job(id=job_id, tenant_id=session.scalar(select(Tenant.id)), api_key_id="k", kind="generate", model="m",
                batch_key=spec.batch_key(), spec_json=spec.to_json(), n=1, response_format="b64_json",
                request_sha256="x", attempts=0, created_at=time.time()),
            100,
        )


def expire_lease(sessions, job_id: str) -> None:
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=time.time() - 1))


def job(sessions, job_id: str) -> Job:
    with sessions() as session:
        return session.get(Job, job_id)


def image() -> EncodedImage:
    return EncodedImage(index=0, seed=0, data=b"png", content_type="image/png", width=32, height=32)


def test_a_running_job_is_not_claimed_again_while_its_lease_holds(sessions, tmp_path):
    first, second = make_queue(sessions, tmp_path, "w1"), make_queue(sessions, tmp_path, "w2")
    enqueue(sessions, "job_a")
    assert [j.id for j in first.claim_batch(8)] == ["job_a"]
    assert second.claim_batch(8) == []
    assert first.renew(["job_a"]) == ["job_a"]
    assert second.renew(["job_a"]) == []  # only the holder renews
    held = job(sessions, "job_a")
    assert (held.status, held.lease_owner, held.attempts) == ("running", "w1", 1)


def test_an_expired_lease_of_another_worker_is_reclaimed_and_counts_as_a_crash(sessions, tmp_path):
    first, second = make_queue(sessions, tmp_path, "w1"), make_queue(sessions, tmp_path, "w2")
    enqueue(sessions, "job_a")
    first.claim_batch(8)
    expire_lease(sessions, "job_a")
    assert [j.id for j in second.claim_batch(8)] == ["job_a"]
    assert (job(sessions, "job_a").lease_owner, job(sessions, "job_a").attempts) == ("w2", 2)
    assert first.store_images("job_a", [image()]) is False  # the old holder may no longer finish it
    expire_lease(sessions, "job_a")
    assert first.claim_batch(8) == []  # a third crash with max_attempts=2: failed, not re-run
    failed = job(sessions, "job_a")
    assert (failed.status, failed.error_code) == ("failed", "job_interrupted")


def test_reclaiming_its_own_expired_lease_costs_no_attempt(sessions, tmp_path):
    """This process is alive: its lease lapsed because it gave the job up, not because it died."""
    queue = make_queue(sessions, tmp_path, "w1")
    enqueue(sessions, "job_a")
    queue.claim_batch(8)
    expire_lease(sessions, "job_a")
    assert [j.id for j in queue.claim_batch(8)] == ["job_a"]
    assert job(sessions, "job_a").attempts == 1
    assert queue.store_images("job_a", [image()]) is True


def test_release_hands_the_job_back_without_counting_the_attempt(sessions, tmp_path):
    queue = make_queue(sessions, tmp_path, "w1")
    enqueue(sessions, "job_a")
    queue.claim_batch(8)
    assert queue.release(["job_a"]) == 1
    released = job(sessions, "job_a")
    assert (released.status, released.attempts, released.lease_owner) == ("queued", 0, None)
    assert [j.id for j in queue.claim_batch(8)] == ["job_a"]


def test_a_write_under_a_held_lock_retries_then_raises_queue_unavailable(sessions, tmp_path):
    queue = make_queue(sessions, tmp_path, "w1", write_retry_s=0.5)
    enqueue(sessions, "job_a")
    queue.claim_batch(8)
    lock = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(QueueUnavailable):
            queue.store_images("job_a", [image()])
        with pytest.raises(QueueUnavailable):
            queue.renew(["job_a"])
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert job(sessions, "job_a").status == "running"  # not lost, not failed: still ours
    assert queue.store_images("job_a", [image()]) is True


def test_a_worker_that_lost_its_lease_never_overwrites_the_stored_images(sessions, tmp_path):
    enqueue(sessions, "job_a")
    stalled, other = make_queue(sessions, tmp_path, "stalled"), make_queue(sessions, tmp_path, "other")
    stalled.claim_batch(8)
    tenant_id = job(sessions, "job_a").tenant_id
    stalled.blobs.put(f"{tenant_id}/images/job_a/0-crashed.png", b"left by a crashed attempt")
    expire_lease(sessions, "job_a")  # it stalled past its lease; the other worker takes the job
    other.claim_batch(8)
    assert other.store_images("job_a", [EncodedImage(0, 0, b"the stored one", "image/png", 32, 32)]) is True
    assert stalled.store_images("job_a", [EncodedImage(0, 0, b"too late", "image/png", 32, 32)]) is False
    with sessions() as session:
        [row] = session.scalars(select(ImageRecord)).all()
    assert list(other.blobs.keys(f"{tenant_id}/images/job_a")) == [row.blob_key]  # no leftovers either way
    assert other.blobs.get(row.blob_key) == b"the stored one"
