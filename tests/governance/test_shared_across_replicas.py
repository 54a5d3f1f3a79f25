"""What replicas share through the database: one rate bucket per key, one retention sweep at a time."""

from __future__ import annotations

import pytest

from gesso.governance.rate_limits import SharedKeyRateLimiter
from gesso.store.database import make_engine
from gesso.store.schema_migrations import upgrade_to_head


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    upgrade_to_head(engine)
    return engine


def test_two_replicas_share_one_bucket_per_key(engine) -> None:
    replica_a, replica_b = SharedKeyRateLimiter(engine), SharedKeyRateLimiter(engine)
    now = 1_000_000.0
    spent = [limiter.retry_after("k1", 4, now) for limiter in (replica_a, replica_b, replica_a, replica_b)]
    assert spent == [0, 0, 0, 0]
    assert replica_b.retry_after("k1", 4, now) == 15  # 4 per minute: one token every 15 s
    assert replica_a.retry_after("k2", 4, now) == 0  # another key has its own bucket
    assert replica_a.retry_after("k1", 4, now + 15) == 0  # refilled with time


def test_concurrent_spending_never_overdraws(engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    limiters = [SharedKeyRateLimiter(engine) for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda i: limiters[i % 4].retry_after("k", 10, 5_000.0), range(30)))
    assert waits.count(0) == 10


def test_a_clock_behind_the_bucket_does_not_mint_tokens(engine) -> None:
    limiter = SharedKeyRateLimiter(engine)
    assert limiter.retry_after("k", 1, 2_000.0) == 0
    assert limiter.retry_after("k", 1, 1_000.0) > 0  # another replica's clock is behind


def test_a_retention_sweep_runs_once_across_replicas(tmp_path, postgres_url: str) -> None:
    from gesso.governance.audit_log import AuditLog
    from gesso.governance.retention import sweep_retention
    from gesso.store.advisory_locks import try_session_lock
    from gesso.store.blob_store import LocalBlobStore
    from gesso.store.database import open_database

    sessions = open_database(postgres_url)
    other_replica = make_engine(postgres_url)
    audit = AuditLog(sessions, tmp_path / "keys")
    with try_session_lock(other_replica, "retention-sweep") as held:
        assert held
        assert sweep_retention(sessions, LocalBlobStore(tmp_path / "blobs"), audit).skipped
    assert not sweep_retention(sessions, LocalBlobStore(tmp_path / "blobs"), audit).skipped
