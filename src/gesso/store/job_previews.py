"""Previews of running jobs through the database: the worker stores each (sealed, as a blob, with a
row naming it) and a request waiting on any replica reads them; implements `PreviewChannel`
(jobs/job_previews.py).

The worker keeps a pace: the first preview of a job is always stored, later ones at most every
`every_s` (the previews of one denoising step, one per image of the job, go together). Previews
are kept `keep_s` after their job ended, so a request that reads the job a moment after it
finished still streams them, and are then removed by whichever worker prunes first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from gesso.jobs.image_jobs import ClaimedJob
from gesso.store.blob_store import BlobStore, blob_key
from gesso.store.insert_if_absent import insert_if_absent
from gesso.store.tables import Job, JobPreview

PREVIEW_KEEP_S = 60.0
PRUNE_BATCH = 200
REMEMBERED_JOBS = 1024
ENDED = ("succeeded", "failed")
log = logging.getLogger("gesso.worker")


def job_previews_prefix(tenant_id: str, job_id: str) -> str:
    return blob_key(tenant_id, "previews", job_id)


def stored_previews(session: Session, tenant_id: str, job_id: str) -> list[JobPreview]:
    """A job's stored previews, in the order they were made."""
    return list(
        session.scalars(
            select(JobPreview)
            .where(JobPreview.job_id == job_id, JobPreview.tenant_id == tenant_id)
            .order_by(JobPreview.partial_index, JobPreview.image_index)
        )
    )


def prune_previews(sessions: sessionmaker[Session], blobs: BlobStore, ended_before: float) -> int:
    """Remove the previews of jobs that ended before `ended_before` or no longer exist; returns
    how many jobs' previews went. Blobs first: a crash between leaves rows that the next prune
    finds again, never a blob nothing names."""
    with sessions() as session:
        gone = session.execute(
            select(JobPreview.job_id, JobPreview.tenant_id)
            .outerjoin(Job, Job.id == JobPreview.job_id)
            .where(or_(Job.id.is_(None), and_(Job.status.in_(ENDED), Job.completed_at < ended_before)))
            .distinct()
            .limit(PRUNE_BATCH)
        ).all()
    for job_id, tenant_id in gone:
        blobs.delete_prefix(job_previews_prefix(tenant_id, job_id))
    if gone:
        with sessions.begin() as session:
            session.execute(delete(JobPreview).where(JobPreview.job_id.in_([job_id for job_id, _ in gone])))
    return len(gone)


class SqlPreviewChannel:
    """Store previews of jobs whose request streams them (see the module's docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        every_s: float = 0.5,
        keep_s: float = PREVIEW_KEEP_S,
    ):
        self.sessions = sessions
        self.blobs = blobs
        self.every_s = every_s
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._tenants: OrderedDict[str, str] = OrderedDict()  # job -> tenant
        self._admitted: OrderedDict[str, tuple[float, int]] = OrderedDict()  # job -> (when, partial index)
        self._pruned_at = 0.0

    def wants(self, job: ClaimedJob) -> bool:
        return job.request.partial_images > 0

    def publish(self, job: ClaimedJob, image_index: int, partial_index: int, data: bytes) -> None:
        if not self._admit(job.id, partial_index):
            return
        try:
            tenant_id = self._tenant(job.id)
            if tenant_id is None:
                return
            key = blob_key(tenant_id, "previews", job.id, f"{image_index}-{partial_index}.{job.request.output_format}")
            self.blobs.put(key, data)
            values = {
                "job_id": job.id, "image_index": image_index, "partial_index": partial_index,
                "tenant_id": tenant_id, "blob_key": key, "created_at": time.time(),
            }
            with self.sessions.begin() as session:
                insert_if_absent(session.connection(), JobPreview, values, ["job_id", "image_index", "partial_index"])
        except Exception:  # noqa: BLE001 - a preview fewer, never a failed job
            log.warning("could not store a preview of job %s", job.id, exc_info=True)

    def ended(self, job_ids: list[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._tenants.pop(job_id, None)
                self._admitted.pop(job_id, None)
            now = time.monotonic()
            due = now - self._pruned_at >= self.keep_s / 2
            if due:
                self._pruned_at = now
        if due:
            try:
                prune_previews(self.sessions, self.blobs, time.time() - self.keep_s)
            except Exception:  # noqa: BLE001 - the next prune tries again
                log.warning("could not prune old previews", exc_info=True)

    def _admit(self, job_id: str, partial_index: int) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._admitted.get(job_id)
            if last is not None and partial_index != last[1] and now - last[0] < self.every_s:
                return False
            if last is None or partial_index != last[1]:
                self._admitted[job_id] = (now, partial_index)
                self._admitted.move_to_end(job_id)
                while len(self._admitted) > REMEMBERED_JOBS:
                    self._admitted.popitem(last=False)
            return True

    def _tenant(self, job_id: str) -> str | None:
        with self._lock:
            known = self._tenants.get(job_id)
        if known is not None:
            return known
        with self.sessions() as session:
            tenant_id = session.scalar(select(Job.tenant_id).where(Job.id == job_id))
        if tenant_id is not None:
            with self._lock:
                self._tenants[job_id] = tenant_id
                while len(self._tenants) > REMEMBERED_JOBS:
                    self._tenants.popitem(last=False)
        return tenant_id
