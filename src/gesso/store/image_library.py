"""Read-only, tenant-scoped listing of generated images with the job that made each one.

The library view of the console reads this: newest first, filtered by model, time and a
case-insensitive substring of the prompt, paged by the id of the last image seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gesso.store.tables import ImageRecord, Job

# rows read per database round trip while the prompt filter (applied in Python) looks for matches
_SCAN_CHUNK = 200


@dataclass(frozen=True)
class LibraryQuery:
    """What to list. `since`/`until` are Unix seconds (inclusive); `after` is an image id."""

    tenant_id: str
    q: str | None = None
    model: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50
    after: str | None = None


@dataclass(frozen=True)
class LibraryPage:
    entries: list[tuple[ImageRecord, Job]]
    has_more: bool


class UnknownCursor(LookupError):
    """`after` names no image of this tenant."""


def spec_prompt(job: Job) -> str:
    """The prompt stored in a job's spec ("" when none was stored)."""
    return str(json.loads(job.spec_json).get("prompt") or "")


def list_library(session: Session, query: LibraryQuery) -> LibraryPage:
    """One page of `query.tenant_id`'s images, newest first.

    The prompt lives inside the job's JSON spec, so the substring match runs in Python over
    rows the database has already narrowed by tenant, model, time and cursor.
    Raises UnknownCursor when `after` is not one of this tenant's images.
    """
    statement = (
        select(ImageRecord, Job)
        .join(Job, Job.id == ImageRecord.job_id)
        .where(ImageRecord.tenant_id == query.tenant_id, Job.tenant_id == query.tenant_id)
        .order_by(ImageRecord.created_at.desc(), ImageRecord.id.desc())
    )
    if query.model:
        statement = statement.where(Job.model == query.model)
    if query.since is not None:
        statement = statement.where(ImageRecord.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(ImageRecord.created_at <= query.until)
    if query.after:
        cursor = session.scalar(
            select(ImageRecord).where(ImageRecord.id == query.after, ImageRecord.tenant_id == query.tenant_id)
        )
        if cursor is None:
            raise UnknownCursor(query.after)
        statement = statement.where(
            or_(
                ImageRecord.created_at < cursor.created_at,
                and_(ImageRecord.created_at == cursor.created_at, ImageRecord.id < cursor.id),
            )
        )
    needle = (query.q or "").strip().casefold()
    wanted = query.limit + 1  # one extra tells whether another page exists
    found: list[tuple[ImageRecord, Job]] = []
    offset = 0
    while len(found) < wanted:
        rows = session.execute(statement.offset(offset).limit(_SCAN_CHUNK)).all()
        for image, job in rows:
            if not needle or needle in spec_prompt(job).casefold():
                found.append((image, job))
                if len(found) == wanted:
                    break
        if len(rows) < _SCAN_CHUNK:
            break
        offset += _SCAN_CHUNK
    return LibraryPage(entries=found[: query.limit], has_more=len(found) > query.limit)

