"""Tenant-scoped reads of jobs and images: a foreign id reads exactly like a missing one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gesso.store.tables import ImageRecord, Job


def find_job(session: Session, tenant_id: str, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id))


def find_job_by_idempotency_key(session: Session, tenant_id: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key))


def job_images(session: Session, job_id: str) -> list[ImageRecord]:
    return list(session.scalars(select(ImageRecord).where(ImageRecord.job_id == job_id).order_by(ImageRecord.index)))


def find_image(session: Session, image_id: str, tenant_id: str | None) -> ImageRecord | None:
    """`tenant_id=None` only for a caller that has already proven access (a signed URL)."""
    query = select(ImageRecord).where(ImageRecord.id == image_id)
    if tenant_id is not None:
        query = query.where(ImageRecord.tenant_id == tenant_id)
    return session.scalar(query)
