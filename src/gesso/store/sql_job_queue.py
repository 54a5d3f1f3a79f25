"""The durable job queue in the database; implements `JobQueue` (jobs/image_jobs.py).

Jobs are rows; a status change and the image rows of a finished job are written in one
transaction, and `(job_id, index)` is unique, so a job's image set exists once or not at all.
Image blobs are named by job, index and the attempt that wrote them: a worker that lost its
lease (it stalled and another finished the job) never overwrites the images the rows name; it
removes its own, and the attempt that finishes removes what crashed attempts left.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from typing import Callable, TypeVar

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.image_jobs import ClaimedJob, EncodedImage, FinishedJob
from gesso.jobs.output_encoding import OUTPUT_FORMATS, encode_output
from gesso.jobs.queue_errors import QueueFull, QueueUnavailable
from gesso.store.blob_store import BlobStore, blob_key
from gesso.store.ids import new_id
from gesso.store.tables import ImageRecord, Job
from gesso.store.transient_errors import is_transient, retry_transient

WAITING = ("queued", "running")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
T = TypeVar("T")


def job_images_prefix(tenant_id: str, job_id: str) -> str:
    return blob_key(tenant_id, "images", job_id)


def job_uploads_prefix(tenant_id: str, job_id: str) -> str:
    return blob_key(tenant_id, "uploads", job_id)


def queue_depth(session: Session) -> dict[str, int]:
    """Number of queued and running jobs."""
    rows = session.execute(
        select(Job.status, func.count()).where(Job.status.in_(WAITING)).group_by(Job.status)
    ).all()
    counts = {status: 0 for status in WAITING}
    counts.update({status: count for status, count in rows})
    return counts


def add_job(session: Session, job: Job, max_waiting: int) -> Job:
    """Add a queued job in the caller's transaction; raise QueueFull when `max_waiting` jobs
    are already queued or running (the queue is bounded, not a memory sink)."""
    waiting = sum(queue_depth(session).values())
    if waiting >= max_waiting:
        raise QueueFull(waiting, retry_after=max(1, min(60, waiting // 8)))
    job.status = "queued"
    job.created_at = job.created_at or time.time()
    session.add(job)
    return job


def images_waiting(session: Session) -> int:
    """Images of the jobs queued or running: the work ahead of a new request."""
    return int(session.scalar(select(func.coalesce(func.sum(Job.n), 0)).where(Job.status.in_(WAITING))) or 0)


def default_owner() -> str:
    """This process's lease owner name: host, pid and a random part (a restarted pid differs)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SqlJobQueue:
    """Claim, complete and fail jobs stored in the database, with blobs in `blobs`.

    Leases: a claim marks each job with this queue's `owner` and an expiry `lease_s` ahead; the
    worker renews it while it runs (`renew`). A running job whose lease expired is claimable
    again, by any worker. Attempts count crashes, not shutdowns: a claim counts one attempt; a
    graceful `release` gives it back; re-claiming a lapsed lease counts one only when another
    owner held it (that owner stopped renewing: it died, or cannot reach the database — we cannot
    tell which, so it counts, and `max_attempts` still stops a job that kills its workers).
    This process's own lapsed lease means its worker gave the job up while alive (its writes
    failed), so that re-claim is free. Writes retry through locks and lost connections for up
    to `write_retry_s`, then raise `QueueUnavailable`; the job stays leased, not lost.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        max_attempts: int = 3,
        lease_s: float = 60.0,
        owner: str | None = None,
        write_retry_s: float | None = None,
    ):
        self.sessions = sessions
        self.blobs = blobs
        self.max_attempts = max_attempts
        self.lease_s = lease_s
        self.owner = owner or default_owner()
        self.write_retry_s = lease_s if write_retry_s is None else write_retry_s

    def _write(self, what: str, action: Callable[[], T]) -> T:
        try:
            return retry_transient(action, what=what, budget_s=self.write_retry_s)
        except Exception as exc:
            if is_transient(exc):
                raise QueueUnavailable(f"{what}: {str(exc).splitlines()[0][:200]}") from exc
            raise

    def claim_batch(self, max_images: int, batch_key: str | None = None) -> list[ClaimedJob]:
        """The oldest claimable job and compatible ones; with `batch_key`, only jobs of that key
        that fit in `max_images` (a top-up of a batch already claimed). A claim is one short
        transaction (a failure raises and claims nothing, so the worker just tries again later)."""
        with self.sessions.begin() as session:
            now = time.time()
            claimable = or_(Job.status == "queued", and_(Job.status == "running", Job.lease_expires_at < now))
            if batch_key is not None:
                claimable = and_(claimable, Job.batch_key == batch_key, Job.n <= max_images)
            # On PostgreSQL, rows another worker is claiming right now are skipped, not waited for
            # (SKIP LOCKED), so any number of workers take disjoint jobs; SQLite has one writer.
            first = session.scalars(
                select(Job).where(claimable).order_by(Job.created_at, Job.id).limit(1).with_for_update(skip_locked=True)
            ).first()
            if first is None:
                return []
            chosen, total = [first], first.n
            if total < max_images:
                candidates = session.scalars(
                    select(Job)
                    .where(claimable, Job.batch_key == first.batch_key, Job.id != first.id)
                    .order_by(Job.created_at, Job.id)
                    .limit(max_images)
                    .with_for_update(skip_locked=True)
                ).all()
                for job in candidates:
                    if total + job.n <= max_images:
                        chosen.append(job)
                        total += job.n
            claimed, exhausted = [], []
            for job in chosen:
                counts = job.status == "queued" or job.lease_owner != self.owner
                if job.status == "running" and counts and job.attempts >= self.max_attempts:
                    exhausted.append(job)
                    continue
                # the guard (still claimable, same state as read) makes racing workers safe
                result = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status == job.status, claimable)
                    .values(status="running", started_at=now, attempts=Job.attempts + (1 if counts else 0),
                            lease_owner=self.owner, lease_expires_at=now + self.lease_s)
                )
                if result.rowcount == 1:
                    claimed.append(job)
            for job in exhausted:
                session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status == "running", Job.lease_expires_at < now)
                    .values(status="failed", error_code="job_interrupted", completed_at=now,
                            error_message=f"the job was interrupted {job.attempts} times",
                            lease_owner=None, lease_expires_at=None)
                )
            snapshot = [
                (job.id, job.spec_json, job.input_image_blob, job.input_mask_blob, job.request_id) for job in claimed
            ]
            dropped = [(job.tenant_id, job.id) for job in exhausted]
        for tenant_id, job_id in dropped:
            self.blobs.delete_prefix(job_images_prefix(tenant_id, job_id))
        return [
            ClaimedJob(
                id=job_id,
                request=GenerationRequest.from_json(spec),
                image=self.blobs.get(image) if image else None,
                mask=self.blobs.get(mask) if mask else None,
                request_id=request_id,
            )
            for job_id, spec, image, mask, request_id in snapshot
        ]

    def renew(self, job_ids: list[str]) -> list[str]:
        """Extend this owner's leases; returns the ids still held (one attempt, no retry: the next
        heartbeat is the retry). Raises QueueUnavailable when the database cannot be written."""
        held = []
        try:
            with self.sessions.begin() as session:
                until = time.time() + self.lease_s
                for job_id in job_ids:
                    result = session.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.status == "running", Job.lease_owner == self.owner)
                        .values(lease_expires_at=until)
                    )
                    if result.rowcount == 1:
                        held.append(job_id)
        except Exception as exc:
            if is_transient(exc):
                raise QueueUnavailable(f"renewing leases: {str(exc).splitlines()[0][:200]}") from exc
            raise
        return held

    def release(self, job_ids: list[str]) -> int:
        """Give running jobs back to the queue without counting the attempt (a shutdown, a
        write that could not be made); returns how many were released."""
        def run() -> list[tuple[str, str]]:
            with self.sessions.begin() as session:
                jobs = session.execute(
                    select(Job.id, Job.tenant_id).where(
                        Job.id.in_(job_ids), Job.status == "running", Job.lease_owner == self.owner
                    )
                ).all()
                for job_id, _ in jobs:
                    session.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.status == "running", Job.lease_owner == self.owner)
                        .values(status="queued", started_at=None, lease_owner=None, lease_expires_at=None,
                                attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0))
                    )
                return [(tenant_id, job_id) for job_id, tenant_id in jobs]

        released = self._write("releasing jobs", run)
        for tenant_id, job_id in released:
            self.blobs.delete_prefix(job_images_prefix(tenant_id, job_id))
        return len(released)

    def complete(self, finished: FinishedJob) -> bool:
        """Store the images encoded as the request asks, unstamped (a deployment's worker
        completes through governance's `StampingJobQueue`, which stamps them and calls
        `store_images`)."""
        request = finished.job.request
        content_type = OUTPUT_FORMATS[request.output_format]
        encoded = [
            EncodedImage(
                image.index, image.seed, encode_output(image.pixels, request.output_format, request.output_compression),
                content_type, image.pixels.width, image.pixels.height,
            )
            for image in finished.images
        ]
        return self.store_images(finished.job.id, encoded)

    def store_images(self, job_id: str, images: list[EncodedImage]) -> bool:
        """Write the encoded images as blobs and rows and mark the job succeeded, all or nothing;
        False if the job is not running under this queue's lease (see `JobQueue.complete`)."""
        with self.sessions() as session:
            tenant_id = session.scalar(select(Job.tenant_id).where(Job.id == job_id))
        if tenant_id is None:
            return False
        attempt = uuid.uuid4().hex[:8]
        keys = []
        for image in images:
            key = blob_key(tenant_id, "images", job_id, f"{image.index}-{attempt}.{EXTENSIONS[image.content_type]}")
            self.blobs.put(key, image.data)
            keys.append(key)
        finished = self._write("storing images of " + job_id, lambda: self._finish(job_id, tenant_id, images, keys))
        # ours if finished (then also drop what interrupted attempts left), else another's
        for key in list(self.blobs.keys(job_images_prefix(tenant_id, job_id))):
            if (key not in keys) == finished:
                self.blobs.delete_prefix(key)
        return finished

    def _finish(self, job_id: str, tenant_id: str, images: list[EncodedImage], keys: list[str]) -> bool:
        with self.sessions.begin() as session:
            finished = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.lease_owner == self.owner)
                .values(status="succeeded", completed_at=time.time(), error_code=None, error_message=None,
                        lease_owner=None, lease_expires_at=None)
            )
            if finished.rowcount != 1:
                return False  # not ours to finish; the blobs belong to whoever finished it
            now = time.time()
            for image, key in zip(images, keys):
                session.add(
                    ImageRecord(
                        id=new_id("img"),
                        tenant_id=tenant_id,
                        job_id=job_id,
                        index=image.index,
                        blob_key=key,
                        content_type=image.content_type,
                        width=image.width,
                        height=image.height,
                        seed=image.seed,
                        sha256=_sha256(image.data),
                        created_at=now,
                    )
                )
        return True

    def fail(self, job_id: str, code: str, message: str) -> None:
        def run() -> str | None:
            with self.sessions.begin() as session:
                job = session.get(Job, job_id)
                if job is None or job.status not in WAITING:
                    return None
                job.status, job.error_code, job.error_message = "failed", code, message
                job.completed_at = time.time()
                job.lease_owner, job.lease_expires_at = None, None
                return job.tenant_id

        tenant_id = self._write("failing " + job_id, run)
        if tenant_id is not None:
            self.blobs.delete_prefix(job_images_prefix(tenant_id, job_id))

    def requeue_interrupted(self) -> int:
        """At start, before this process's worker runs: put running jobs back in the queue (their
        half-written blobs removed). The embedded worker is the database's only worker, so a job
        still running now was cut short by a crash of the last process; one started
        `max_attempts` times fails instead, so one bad job cannot crash-loop."""
        with self.sessions.begin() as session:
            jobs = session.scalars(select(Job).where(Job.status == "running")).all()
            for job in jobs:
                if job.attempts >= self.max_attempts:
                    job.status, job.error_code = "failed", "job_interrupted"
                    job.error_message = f"the job was interrupted {job.attempts} times"
                    job.completed_at = time.time()
                else:
                    job.status, job.started_at = "queued", None
                job.lease_owner, job.lease_expires_at = None, None
            touched = [(job.tenant_id, job.id) for job in jobs]
        for tenant_id, job_id in touched:
            self.blobs.delete_prefix(job_images_prefix(tenant_id, job_id))
        return len(touched)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
