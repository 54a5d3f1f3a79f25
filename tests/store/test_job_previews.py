"""Previews through the database: what a worker stores for requests on other replicas, its pace,
and the clean-up once their jobs are long over."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.image_jobs import ClaimedJob
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import database_url, open_database
from gesso.store.job_previews import (
    SqlPreviewChannel,
    job_previews_prefix,
    prune_previews,
    stored_previews,
)
from gesso.store.tables import Job, JobPreview


@pytest.fixture()
def store(tmp_path):
    sessions = open_database(database_url(tmp_path))
    with sessions.begin() as session:
        tenant_id = create_tenant(session, "acme").id
    return sessions, LocalBlobStore(tmp_path / "blobs"), tenant_id


def add_job(sessions, tenant_id: str, job_id: str, partial_images: int = 2, status: str = "running") -> ClaimedJob:  # noqa: ANN001
    request = GenerationRequest(prompt="p", model="m", n=2, partial_images=partial_images)
    with sessions.begin() as session:
        session.add(Job(id=job_id, tenant_id=tenant_id, api_key_id="k", kind="generate", status=status, model="m",
                        batch_key=request.batch_key(), spec_json=request.to_json(), n=2, response_format="b64_json",
                        request_sha256="x", attempts=1, created_at=time.time()))
    return ClaimedJob(job_id, request)


def test_stored_previews_are_read_back_in_order(store):
    sessions, blobs, tenant_id = store
    job = add_job(sessions, tenant_id, "job_a")
    channel = SqlPreviewChannel(sessions, blobs, every_s=0)
    for partial in (0, 1):
        for image in (0, 1):
            channel.publish(job, image, partial, b"preview %d %d" % (image, partial))
    channel.publish(job, 0, 0, b"again")  # a re-run's same preview: stored once
    with sessions() as session:
        rows = stored_previews(session, tenant_id, "job_a")
        assert stored_previews(session, "another-tenant", "job_a") == []
    assert [(row.image_index, row.partial_index) for row in rows] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert blobs.get(rows[1].blob_key) == b"preview 1 0"


def test_the_first_preview_is_stored_then_the_channel_keeps_its_pace(store):
    sessions, blobs, tenant_id = store
    job = add_job(sessions, tenant_id, "job_a")
    channel = SqlPreviewChannel(sessions, blobs, every_s=3600)
    channel.publish(job, 0, 0, b"first")
    channel.publish(job, 1, 0, b"same step, other image")  # one step's previews go together
    channel.publish(job, 0, 1, b"too soon")
    with sessions() as session:
        assert [(r.image_index, r.partial_index) for r in stored_previews(session, tenant_id, "job_a")] == [(0, 0), (1, 0)]


def test_only_jobs_whose_request_streams_previews_are_wanted(store):
    sessions, blobs, tenant_id = store
    channel = SqlPreviewChannel(sessions, blobs)
    assert channel.wants(add_job(sessions, tenant_id, "job_stream", partial_images=2))
    assert not channel.wants(add_job(sessions, tenant_id, "job_plain", partial_images=0))


def test_previews_of_long_ended_or_deleted_jobs_are_pruned(store):
    sessions, blobs, tenant_id = store
    channel = SqlPreviewChannel(sessions, blobs, every_s=0)
    for job_id in ("job_old", "job_recent", "job_running", "job_deleted"):
        channel.publish(add_job(sessions, tenant_id, job_id), 0, 0, b"p")
    now = time.time()
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == "job_old").values(status="succeeded", completed_at=now - 600))
        session.execute(update(Job).where(Job.id == "job_recent").values(status="failed", completed_at=now))
        session.delete(session.get(Job, "job_deleted"))  # retention removed the job
    assert prune_previews(sessions, blobs, ended_before=now - 60) == 2
    with sessions() as session:
        assert sorted(session.scalars(select(JobPreview.job_id))) == ["job_recent", "job_running"]
    assert list(blobs.keys(job_previews_prefix(tenant_id, "job_old"))) == []
    assert list(blobs.keys(job_previews_prefix(tenant_id, "job_deleted"))) == []
    assert len(list(blobs.keys(job_previews_prefix(tenant_id, "job_running")))) == 1


def test_a_preview_that_cannot_be_stored_never_raises(store):
    sessions, blobs, tenant_id = store

    class BrokenBlobs:
        def put(self, key: str, data: bytes) -> None:
            raise OSError("disk full")

    channel = SqlPreviewChannel(sessions, BrokenBlobs(), every_s=0)
    channel.publish(add_job(sessions, tenant_id, "job_a"), 0, 0, b"p")
    with sessions() as session:
        assert stored_previews(session, tenant_id, "job_a") == []
