"""Per-tenant image quota over a sliding 24-hour window, counted from the jobs table."""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from gesso.governance.access_errors import QuotaExceeded
from gesso.store.tables import Job, Tenant

WINDOW_SECONDS = 24 * 3600


def check_image_quota(session: Session, tenant: Tenant, n: int, default_per_day: int, now: float) -> None:
    """Raise QuotaExceeded unless `n` more images fit in the tenant's last-24-hours quota.

    Images of failed jobs do not count. `Retry-After` is when enough old jobs leave the window.
    """
    limit = tenant.images_per_day if tenant.images_per_day is not None else default_per_day
    since = now - WINDOW_SECONDS
    rows = session.execute(
        select(Job.created_at, Job.n)
        .where(Job.tenant_id == tenant.id, Job.created_at > since, Job.status != "failed")
        .order_by(Job.created_at)
    ).all()
    used = sum(count for _, count in rows)
    if used + n <= limit:
        return
    if n > limit:
        retry_after = WINDOW_SECONDS
    else:
        retry_after = WINDOW_SECONDS
        freed = 0
        for created_at, count in rows:
            freed += count
            if used - freed + n <= limit:
                retry_after = max(1, math.ceil(created_at + WINDOW_SECONDS - now))
                break
    raise QuotaExceeded(
        f"tenant quota of {limit} images per 24 hours reached ({used} used, {n} requested)",
        retry_after=retry_after,
    )
