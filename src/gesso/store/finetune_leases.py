"""Which worker runs which fine-tune: leased claims, renewals and the recovery of lapsed leases.

A claim marks the job with the worker's `owner` and an expiry `lease_s` ahead; the worker's
heartbeat renews it while it trains. Claims take one advisory lock in turn (PostgreSQL; SQLite
has one writer anyway), so every claim sees the one before it and the fair share across tenants
(`next_job_id`) holds with any number of workers; the row itself is locked with
`FOR UPDATE SKIP LOCKED`, so a job the API is changing right now is passed over, not waited for.

`attempts` counts interruptions, not claims. A lapsed lease of another owner counts one (that
worker died, or cannot reach the database: we cannot tell which, so it counts, and
`max_attempts` stops a job that keeps killing its workers); a lapsed lease of this owner is its
own worker having given the job up while alive, so it goes back uncounted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gesso.store.advisory_locks import transaction_lock
from gesso.store.finetune_records import add_event, next_job_id, set_status
from gesso.store.tables import FineTuningJobRecord

CLAIM_LOCK = "gesso:fine-tune-claims"


@dataclass(frozen=True)
class Requeued:
    """A running job put back in the queue, or failed for good (`failed`)."""

    job_id: str
    tenant_id: str
    failed: bool


def claim_fairly(session: Session, owner: str, lease_s: float) -> FineTuningJobRecord | None:
    """Lease the next queued job fairly to `owner`, in the caller's transaction; None when
    nothing is queued."""
    transaction_lock(session, CLAIM_LOCK)
    skipped: set[str] = set()
    while (job_id := next_job_id(session, frozenset(skipped))) is not None:
        row = session.scalars(
            select(FineTuningJobRecord.id)
            .where(FineTuningJobRecord.id == job_id, FineTuningJobRecord.status == "queued")
            .with_for_update(skip_locked=True)
        ).first()
        now = time.time()
        if row is not None and set_status(session, job_id, ("queued",), status="running", started_at=now,
                                          lease_owner=owner, lease_expires_at=now + lease_s):
            return session.get(FineTuningJobRecord, job_id)
        skipped.add(job_id)
    return None


def renew_lease(session: Session, job_id: str, owner: str, lease_s: float) -> bool:
    """Extend `owner`'s lease of a running job; False when it no longer holds it."""
    result = session.execute(
        update(FineTuningJobRecord)
        .where(FineTuningJobRecord.id == job_id, FineTuningJobRecord.status == "running",
               FineTuningJobRecord.lease_owner == owner)
        .values(lease_expires_at=time.time() + lease_s)
    )
    return result.rowcount == 1


def requeue_running(session: Session, owner: str, max_attempts: int, lapsed_only: bool) -> list[Requeued]:
    """Put running jobs back in the queue (they resume from their last checkpoint), in the
    caller's transaction: with `lapsed_only`, those whose lease lapsed (any number of workers
    may be running); without, every running job (the caller is the database's only fine-tune
    worker, starting: whatever runs was cut short). A job interrupted `max_attempts` times fails."""
    now = time.time()
    query = select(FineTuningJobRecord).where(FineTuningJobRecord.status == "running")
    if lapsed_only:
        query = query.where(or_(FineTuningJobRecord.lease_expires_at.is_(None),
                                FineTuningJobRecord.lease_expires_at < now))
    done = []
    for job in session.scalars(query.with_for_update(skip_locked=True)).all():
        own = lapsed_only and job.lease_owner == owner
        attempts = job.attempts + (0 if own else 1)
        failed = attempts >= max_attempts
        values = {"attempts": attempts, "lease_owner": None, "lease_expires_at": None}
        if failed:
            message = f"the fine-tune was interrupted {attempts} times"
            values |= {"status": "failed", "error_code": "job_interrupted", "finished_at": now,
                       "error_message": message}
        else:
            values["status"] = "queued"
            message = (f"{'Server restarted' if not lapsed_only else 'The worker running the job stopped'}; "
                       f"the job resumes from its last checkpoint (step {job.step})")
        # guarded by the lease as read: a renewal that came in between wins (no row is locked on SQLite)
        held_by = (FineTuningJobRecord.lease_owner.is_(None) if job.lease_owner is None
                   else FineTuningJobRecord.lease_owner == job.lease_owner)
        changed = session.execute(
            update(FineTuningJobRecord)
            .where(FineTuningJobRecord.id == job.id, FineTuningJobRecord.status == "running", held_by,
                   FineTuningJobRecord.lease_expires_at.is_(None) if job.lease_expires_at is None
                   else FineTuningJobRecord.lease_expires_at == job.lease_expires_at)
            .values(**values)
        ).rowcount == 1
        if changed:
            add_event(session, job, message, level="error" if failed else "info")
            done.append(Requeued(job.id, job.tenant_id, failed))
    return done
