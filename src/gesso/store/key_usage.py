"""Images generated per API key, in total and per UTC day, counted from the image rows and the
jobs that made them. Images removed by retention or erasure are no longer counted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gesso.store.tables import ImageRecord, Job


@dataclass(frozen=True)
class KeyUsage:
    api_key_id: str
    images: int
    requests: int  # jobs that produced at least one of these images
    first_image_at: float | None
    last_image_at: float | None


@dataclass(frozen=True)
class DailyKeyUsage:
    date: str  # YYYY-MM-DD, UTC
    api_key_id: str
    images: int
    requests: int


def _tenant_images(tenant_id: str, since: float | None, until: float | None) -> Select:
    query = (
        select(Job.api_key_id, Job.id, ImageRecord.created_at)
        .join(Job, Job.id == ImageRecord.job_id)
        .where(ImageRecord.tenant_id == tenant_id, Job.tenant_id == tenant_id)
    )
    if since is not None:
        query = query.where(ImageRecord.created_at >= since)
    if until is not None:
        query = query.where(ImageRecord.created_at <= until)
    return query


def key_usage(
    session: Session, tenant_id: str, since: float | None = None, until: float | None = None
) -> tuple[list[KeyUsage], list[DailyKeyUsage]]:
    """Per key (most images first) and per day and key (oldest day first) for one tenant;
    `since`/`until` are inclusive Unix seconds on the image's creation time.

    Days are grouped here rather than in SQL because no date function is common to every
    database SQLAlchemy may point at; the query already returns only two small columns per image.
    """
    totals: dict[str, list] = {}
    days: dict[tuple[str, str], list] = defaultdict(lambda: [0, set()])
    for key_id, job_id, created_at in session.execute(_tenant_images(tenant_id, since, until)):
        total = totals.setdefault(key_id, [0, set(), created_at, created_at])
        total[0] += 1
        total[1].add(job_id)
        total[2], total[3] = min(total[2], created_at), max(total[3], created_at)
        day = datetime.fromtimestamp(created_at, timezone.utc).date().isoformat()
        days[(day, key_id)][0] += 1
        days[(day, key_id)][1].add(job_id)
    per_key = [
        KeyUsage(key_id, count, len(jobs), first, last) for key_id, (count, jobs, first, last) in totals.items()
    ]
    per_key.sort(key=lambda usage: (-usage.images, usage.api_key_id))
    per_day = [DailyKeyUsage(day, key_id, count, len(jobs)) for (day, key_id), (count, jobs) in sorted(days.items())]
    return per_key, per_day
