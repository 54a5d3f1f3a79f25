"""Named locks held in the database, so that processes on different machines agree.

PostgreSQL has advisory locks: `transaction_lock` serialises writers of one thing (an audit chain)
until the transaction ends; `try_session_lock` lets exactly one process run a piece of work that
must run once (a sweep), and the others skip it. SQLite allows one writer at a time already and
runs on one machine, so there the transaction lock is a no-op and the session lock is always won.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (PostgreSQL's advisory lock key type is bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def transaction_lock(session: Session, name: str) -> None:
    """Block until this transaction holds the lock `name`; it is released at commit or rollback."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


@contextmanager
def try_session_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True when this process holds `name` for the block (and releases it after), False
    when another process holds it now."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(name)}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
                conn.commit()
