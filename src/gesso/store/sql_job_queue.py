"""The durable job queue in the database; implements the engine's `JobQueue`.

Jobs are rows; a status change and the image rows of a finished job are written in one
transaction, and `(job_id, index)` is unique, so a job's image set exists once or not at all.
Image blobs have names fixed by job and index: a re-run after a crash overwrites, never adds.
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from gesso.engine.job_queue import QueueFull
from gesso.engine.jobs import ClaimedJob, FinishedImage, ImageJobSpec
from gesso.store.blob_store import BlobStore, blob_key
from gesso.store.ids import new_id
from gesso.store.tables import ImageRecord, Job

WAITING = ("queued", "running")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


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


class SqlJobQueue:
    """Claim, complete and fail jobs stored in the database, with blobs in `blobs`."""

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore, max_attempts: int = 3):
        self.sessions = sessions
        self.blobs = blobs
        self.max_attempts = max_attempts

    def claim_batch(self, max_images: int) -> list[ClaimedJob]:
        with self.sessions.begin() as session:
            first = session.scalars(
                select(Job).where(Job.status == "queued").order_by(Job.created_at, Job.id).limit(1)
            ).first()
            if first is None:
                return []
            chosen, total = [first], first.n
            if total < max_images:
                candidates = session.scalars(
                    select(Job)
                    .where(Job.status == "queued", Job.batch_key == first.batch_key, Job.id != first.id)
                    .order_by(Job.created_at, Job.id)
                    .limit(max_images)
                ).all()
                for job in candidates:
                    if total + job.n <= max_images:
                        chosen.append(job)
                        total += job.n
            now = time.time()
            claimed = []
            for job in chosen:
                # the status guard makes a claim safe even if two workers raced for the job
                result = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status == "queued")
                    .values(status="running", started_at=now, attempts=Job.attempts + 1)
                )
                if result.rowcount == 1:
                    claimed.append(job)
            snapshot = [
                (job.id, job.spec_json, job.input_image_blob, job.input_mask_blob, job.request_id) for job in claimed
            ]
        return [
            ClaimedJob(
                id=job_id,
                spec=ImageJobSpec.from_json(spec),
                image=self.blobs.get(image) if image else None,
                mask=self.blobs.get(mask) if mask else None,
                request_id=request_id,
            )
            for job_id, spec, image, mask, request_id in snapshot
        ]

    def complete(self, job_id: str, images: list[FinishedImage]) -> bool:
        with self.sessions() as session:
            tenant_id = session.scalar(select(Job.tenant_id).where(Job.id == job_id))
        if tenant_id is None:
            return False
        keys = []
        for image in images:
            key = blob_key(tenant_id, "images", job_id, f"{image.index}.{EXTENSIONS[image.content_type]}")
            self.blobs.put(key, image.data)
            keys.append(key)
        with self.sessions.begin() as session:
            finished = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(status="succeeded", completed_at=time.time(), error_code=None, error_message=None)
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
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is None or job.status not in WAITING:
                return
            job.status, job.error_code, job.error_message = "failed", code, message
            job.completed_at = time.time()
            tenant_id = job.tenant_id
        self.blobs.delete_prefix(job_images_prefix(tenant_id, job_id))

    def requeue_interrupted(self) -> int:
        """Put running jobs back in the queue (their half-written blobs removed); a job that has
        already been started `max_attempts` times fails instead, so one bad job cannot crash-loop."""
        with self.sessions.begin() as session:
            jobs = session.scalars(select(Job).where(Job.status == "running")).all()
            for job in jobs:
                if job.attempts >= self.max_attempts:
                    job.status, job.error_code = "failed", "job_interrupted"
                    job.error_message = f"the job was interrupted {job.attempts} times"
                    job.completed_at = time.time()
                else:
                    job.status, job.started_at = "queued", None
            touched = [(job.tenant_id, job.id) for job in jobs]
        for tenant_id, job_id in touched:
            self.blobs.delete_prefix(job_images_prefix(tenant_id, job_id))
        return len(touched)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
