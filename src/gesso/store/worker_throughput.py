"""The image workers' measured speed, shared through the database: each worker writes its own
row (seconds per image, and when it last said so); any replica reads the rows of the workers
seen recently. A worker that stopped writing is stale and no longer counts."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gesso.store.insert_if_absent import insert_if_absent
from gesso.store.tables import WorkerThroughput


def record_throughput(session: Session, owner: str, seconds_per_image: float, now: float) -> None:
    """Store `owner`'s current seconds per image, stamped `now` (one row per worker)."""
    values = {"owner": owner, "seconds_per_image": seconds_per_image, "updated_at": now}
    connection = session.connection()
    if not insert_if_absent(connection, WorkerThroughput, values, ["owner"]):
        session.execute(update(WorkerThroughput).where(WorkerThroughput.owner == owner)
                        .values(seconds_per_image=seconds_per_image, updated_at=now))


def forget_throughput(session: Session, owner: str) -> None:
    """A worker that stops takes its row with it (a killed one goes stale instead)."""
    session.execute(delete(WorkerThroughput).where(WorkerThroughput.owner == owner))


def live_throughputs(session: Session, seen_since: float, excluding: str | None = None) -> list[float]:
    """Seconds per image of every worker whose row was written at or after `seen_since`
    (other than `excluding`)."""
    query = select(WorkerThroughput.seconds_per_image).where(
        WorkerThroughput.updated_at >= seen_since, WorkerThroughput.seconds_per_image > 0)
    if excluding is not None:
        query = query.where(WorkerThroughput.owner != excluding)
    return [float(value) for value in session.scalars(query)]
