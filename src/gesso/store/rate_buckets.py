"""Token buckets kept in the database, read and written under a row lock, so that any number of
replicas spend from one bucket per key."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select, update

from gesso.store.insert_if_absent import insert_if_absent
from gesso.store.tables import RateBucket

Refill = Callable[[float | None, float | None], tuple[float, float]]


def spend_shared_token(engine: Engine, name: str, now: float, refill: Refill) -> float:
    """Lock the bucket `name`, apply `refill(tokens, updated_at) -> (tokens, wait_s)` to it (None,
    None for a new bucket) and store the result; returns the wait (0 when a token was spent)."""
    with engine.begin() as connection:
        insert_if_absent(connection, RateBucket, {"name": name, "tokens": -1.0, "updated_at": now}, ["name"])
        query = select(RateBucket.tokens, RateBucket.updated_at).where(RateBucket.name == name)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        tokens, updated_at = connection.execute(query).one()
        fresh = tokens < 0  # the placeholder this call (or a racing one) just inserted
        left, wait = refill(None if fresh else tokens, None if fresh else updated_at)
        connection.execute(
            # a replica whose clock is behind never moves the bucket back in time
            update(RateBucket).where(RateBucket.name == name).values(tokens=left, updated_at=now if fresh else max(now, updated_at))
        )
    return wait
