"""Retention: per tenant, generated images are deleted after `image_retention_days` and finished
jobs (with their sealed prompts, uploads and images) after `job_retention_days`. One sweep
applies both; the server runs it periodically and `gesso retention sweep` runs it once. With many
replicas on one PostgreSQL database, an advisory lock lets one sweep run at a time; the others
skip their turn."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from gesso.governance.audit_events import RETENTION_SWEPT
from gesso.governance.audit_log import AuditLog
from gesso.store.advisory_locks import try_session_lock
from gesso.store.blob_store import BlobStore
from gesso.store.sql_job_queue import job_images_prefix, job_uploads_prefix
from gesso.store.tables import ImageRecord, Job, TenantGovernance

DAY_S = 86_400.0
FINISHED = ("succeeded", "failed")
log = logging.getLogger("gesso.retention")


@dataclass
class SweepResult:
    images: dict[str, int] = field(default_factory=dict)  # tenant -> images deleted
    jobs: dict[str, int] = field(default_factory=dict)  # tenant -> jobs deleted
    skipped: bool = False  # another process was sweeping


def sweep_retention(
    sessions: sessionmaker[Session], blobs: BlobStore, audit: AuditLog, now: float | None = None
) -> SweepResult:
    """Delete what each tenant's retention says is due; one audit record per tenant touched."""
    with try_session_lock(sessions.kw["bind"], "retention-sweep") as held:
        return _sweep(sessions, blobs, audit, time.time() if now is None else now) if held else SweepResult(skipped=True)


def _sweep(sessions: sessionmaker[Session], blobs: BlobStore, audit: AuditLog, now: float) -> SweepResult:
    result = SweepResult()
    with sessions() as session:
        policies = session.execute(
            select(TenantGovernance.tenant_id, TenantGovernance.image_retention_days, TenantGovernance.job_retention_days)
        ).all()
    for tenant_id, image_days, job_days in policies:
        images = _expire_images(sessions, blobs, tenant_id, now - image_days * DAY_S) if image_days else []
        jobs = _expire_jobs(sessions, blobs, tenant_id, now - job_days * DAY_S) if job_days else []
        if images or jobs:
            result.images[tenant_id], result.jobs[tenant_id] = len(images), len(jobs)
            audit.append(
                tenant=tenant_id, actor="retention", action=RETENTION_SWEPT, target=tenant_id,
                details={"images": images, "jobs": jobs, "image_retention_days": image_days,
                         "job_retention_days": job_days},
            )
    return result


def _expire_images(sessions: sessionmaker[Session], blobs: BlobStore, tenant_id: str, cutoff: float) -> list[str]:
    with sessions.begin() as session:
        rows = session.execute(
            select(ImageRecord.id, ImageRecord.blob_key).where(
                ImageRecord.tenant_id == tenant_id, ImageRecord.created_at < cutoff
            )
        ).all()
        if rows:
            session.execute(delete(ImageRecord).where(ImageRecord.id.in_([r.id for r in rows])))
    for row in rows:  # rows first: a crash here leaves an unreferenced sealed blob, never a dangling row
        blobs.delete_prefix(row.blob_key)
    return [row.id for row in rows]


def _expire_jobs(sessions: sessionmaker[Session], blobs: BlobStore, tenant_id: str, cutoff: float) -> list[str]:
    with sessions.begin() as session:
        job_ids = list(
            session.scalars(
                select(Job.id).where(Job.tenant_id == tenant_id, Job.status.in_(FINISHED), Job.created_at < cutoff)
            )
        )
        if job_ids:
            image_keys = list(session.scalars(select(ImageRecord.blob_key).where(ImageRecord.job_id.in_(job_ids))))
            session.execute(delete(ImageRecord).where(ImageRecord.job_id.in_(job_ids)))
            session.execute(delete(Job).where(Job.id.in_(job_ids)))
        else:
            image_keys = []
    for key in image_keys:
        blobs.delete_prefix(key)
    for job_id in job_ids:
        blobs.delete_prefix(job_images_prefix(tenant_id, job_id))
        blobs.delete_prefix(job_uploads_prefix(tenant_id, job_id))
    return job_ids


class RetentionSweeper:
    """A daemon thread that runs `sweep_retention` every `every_s` seconds."""

    def __init__(self, sweep, every_s: float):  # noqa: ANN001 - sweep: () -> SweepResult
        self.sweep = sweep
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="gesso-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - one failed sweep must not end the schedule
                log.exception("retention sweep failed")
