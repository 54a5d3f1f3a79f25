"""Fine-tuning jobs, their events and checkpoints, and fine-tuned models: tenant-scoped reads,
status changes guarded by the current status, and the fair choice of the next job."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gesso.store.ids import new_id
from gesso.store.tables import FineTuneCheckpoint, FineTunedModel, FineTuneEvent, FineTuningJobRecord


def find_job(session: Session, tenant_id: str, job_id: str) -> FineTuningJobRecord | None:
    """The tenant's job; another tenant's id reads exactly like a missing one."""
    return session.scalar(
        select(FineTuningJobRecord).where(FineTuningJobRecord.id == job_id, FineTuningJobRecord.tenant_id == tenant_id)
    )


def list_jobs(session: Session, tenant_id: str, after: str | None, limit: int) -> list[FineTuningJobRecord]:
    """Newest first, starting after the job `after` (OpenAI's cursor paging)."""
    query = select(FineTuningJobRecord).where(FineTuningJobRecord.tenant_id == tenant_id)
    if after and (cursor := find_job(session, tenant_id, after)) is not None:
        query = query.where(
            (FineTuningJobRecord.created_at < cursor.created_at)
            | ((FineTuningJobRecord.created_at == cursor.created_at) & (FineTuningJobRecord.id < cursor.id))
        )
    order = (FineTuningJobRecord.created_at.desc(), FineTuningJobRecord.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))


def add_event(
    session: Session, job: FineTuningJobRecord, message: str, *, level: str = "info", kind: str = "message",
    data: dict | None = None,
) -> FineTuneEvent:
    event = FineTuneEvent(
        id=new_id("ftevent"), job_id=job.id, tenant_id=job.tenant_id, level=level, type=kind, message=message,
        data_json=json.dumps(data) if data is not None else None, created_at=time.time(),
    )
    session.add(event)
    return event


def list_events(session: Session, tenant_id: str, job_id: str, after: str | None, limit: int) -> list[FineTuneEvent]:
    """Newest first (as OpenAI lists them), starting after the event `after`."""
    query = select(FineTuneEvent).where(FineTuneEvent.job_id == job_id, FineTuneEvent.tenant_id == tenant_id)
    if after:
        cursor = session.scalar(select(FineTuneEvent.seq).where(FineTuneEvent.id == after))
        if cursor is not None:
            query = query.where(FineTuneEvent.seq < cursor)
    return list(session.scalars(query.order_by(FineTuneEvent.seq.desc()).limit(limit)))


def save_checkpoint_row(
    session: Session, job: FineTuningJobRecord, step: int, folder: Path, train_loss: float | None,
    valid_loss: float | None, samples_blob_key: str | None, blob_prefix: str | None = None,
) -> FineTuneCheckpoint:
    """One row per (job, step): a resumed run that writes the same step again replaces it.
    `blob_prefix`: where the checkpoint's files were uploaded."""
    row = session.scalar(
        select(FineTuneCheckpoint).where(FineTuneCheckpoint.job_id == job.id, FineTuneCheckpoint.step == step)
    )
    if row is None:
        row = FineTuneCheckpoint(id=new_id("ftckpt"), job_id=job.id, tenant_id=job.tenant_id, step=step)
        session.add(row)
    row.folder, row.train_loss, row.valid_loss = str(folder), train_loss, valid_loss
    row.samples_blob_key, row.blob_prefix, row.created_at = samples_blob_key, blob_prefix, time.time()
    return row


def latest_stored_checkpoint(session: Session, job_id: str) -> FineTuneCheckpoint | None:
    """The job's newest checkpoint whose files are in the blob store: where a resume starts."""
    return session.scalar(
        select(FineTuneCheckpoint)
        .where(FineTuneCheckpoint.job_id == job_id, FineTuneCheckpoint.blob_prefix.is_not(None))
        .order_by(FineTuneCheckpoint.step.desc()).limit(1)
    )


def forget_stored_checkpoints(session: Session, job_id: str, keep: int = 0) -> list[str]:
    """Unlink all but the newest `keep` stored checkpoints of a job from their rows; returns
    their blob prefixes, for the caller to delete once this transaction commits (a crash in
    between leaves unreferenced blobs, never a row naming missing ones)."""
    rows = session.scalars(
        select(FineTuneCheckpoint)
        .where(FineTuneCheckpoint.job_id == job_id, FineTuneCheckpoint.blob_prefix.is_not(None))
        .order_by(FineTuneCheckpoint.step.desc())
    ).all()
    dropped = [row.blob_prefix for row in rows[keep:]]
    for row in rows[keep:]:
        row.blob_prefix = None
    return dropped


def list_checkpoints(
    session: Session, tenant_id: str, job_id: str, after: str | None, limit: int
) -> list[FineTuneCheckpoint]:
    """Newest step first, starting after the checkpoint `after`."""
    query = select(FineTuneCheckpoint).where(
        FineTuneCheckpoint.job_id == job_id, FineTuneCheckpoint.tenant_id == tenant_id
    )
    if after:
        cursor = session.scalar(select(FineTuneCheckpoint.step).where(
            FineTuneCheckpoint.id == after, FineTuneCheckpoint.job_id == job_id))
        if cursor is not None:
            query = query.where(FineTuneCheckpoint.step < cursor)
    return list(session.scalars(query.order_by(FineTuneCheckpoint.step.desc()).limit(limit)))


def find_checkpoint(session: Session, tenant_id: str, job_id: str, checkpoint_id: str) -> FineTuneCheckpoint | None:
    return session.scalar(select(FineTuneCheckpoint).where(
        FineTuneCheckpoint.id == checkpoint_id, FineTuneCheckpoint.job_id == job_id,
        FineTuneCheckpoint.tenant_id == tenant_id,
    ))


def set_status(
    session: Session, job_id: str, allowed_from: tuple[str, ...], owner: str | None = None, **values
) -> bool:
    """Change a job's row only if its status is still one of `allowed_from`, and with `owner`
    only while that worker holds its lease (races lose cleanly)."""
    query = update(FineTuningJobRecord).where(
        FineTuningJobRecord.id == job_id, FineTuningJobRecord.status.in_(allowed_from)
    )
    if owner is not None:
        query = query.where(FineTuningJobRecord.lease_owner == owner)
    return session.execute(query.values(**values)).rowcount == 1


def tenant_models(session: Session, tenant_id: str) -> list[FineTunedModel]:
    return list(session.scalars(
        select(FineTunedModel).where(FineTunedModel.tenant_id == tenant_id).order_by(FineTunedModel.created_at)
    ))


def find_model(session: Session, model_id: str, tenant_id: str | None) -> FineTunedModel | None:
    """`tenant_id=None` only for the worker, after the request's tenant was checked."""
    query = select(FineTunedModel).where(FineTunedModel.id == model_id)
    if tenant_id is not None:
        query = query.where(FineTunedModel.tenant_id == tenant_id)
    return session.scalar(query)


def next_job_id(session: Session, skip: frozenset[str] = frozenset()) -> str | None:
    """The queued job to run next (not one of `skip`): jobs that were already started
    (interrupted, or resumed after a pause) first; otherwise round-robin by tenant — the tenant
    whose last fine-tune started longest ago (or never) goes next, and within a tenant the
    oldest job."""
    queued = [row for row in session.execute(
        select(FineTuningJobRecord.id, FineTuningJobRecord.tenant_id, FineTuningJobRecord.created_at,
               FineTuningJobRecord.started_at)
        .where(FineTuningJobRecord.status == "queued")
    ).all() if row.id not in skip]
    if not queued:
        return None
    last_start = dict(session.execute(
        select(FineTuningJobRecord.tenant_id, func.max(FineTuningJobRecord.started_at))
        .where(FineTuningJobRecord.tenant_id.in_({row.tenant_id for row in queued}))
        .group_by(FineTuningJobRecord.tenant_id)
    ).all())
    return pick_fairly(
        [(row.id, row.tenant_id, row.created_at, row.started_at is not None) for row in queued], last_start
    )


def pick_fairly(queued: list[tuple[str, str, float, bool]], last_start: dict[str, float | None]) -> str | None:
    """(job id, tenant, created_at, was started) rows -> the id to run next (see `next_job_id`)."""
    if not queued:
        return None
    started = [row for row in queued if row[3]]
    if started:
        return min(started, key=lambda row: (row[2], row[0]))[0]
    return min(queued, key=lambda row: (last_start.get(row[1]) or 0.0, row[2], row[0]))[0]
