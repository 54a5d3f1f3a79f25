"""Named database locks: one holder at a time across connections (as across machines) on
PostgreSQL; always granted on SQLite, which has one machine and one writer."""

from __future__ import annotations

import threading
import time

from sqlalchemy.orm import Session

from gesso.store.advisory_locks import lock_key, transaction_lock, try_session_lock
from gesso.store.database import make_engine


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("retention-sweep") == lock_key("retention-sweep")
    assert lock_key("audit-chain:a") != lock_key("audit-chain:b")
    assert -(2**63) <= lock_key("x") < 2**63


def test_only_one_process_holds_a_session_lock(postgres_url: str) -> None:
    first, second = make_engine(postgres_url), make_engine(postgres_url)  # two replicas' pools
    with try_session_lock(first, "sweep") as held:
        assert held
        with try_session_lock(second, "sweep") as other:
            assert not other  # the second replica skips its turn
        with try_session_lock(second, "another-job") as unrelated:
            assert unrelated
    with try_session_lock(second, "sweep") as after:
        assert after  # released when the holder's block ended


def test_transaction_locks_queue_writers_until_commit(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    order: list[str] = []
    holding = threading.Event()

    def holder() -> None:
        with Session(engine) as session, session.begin():
            transaction_lock(session, "chain")
            holding.set()
            time.sleep(0.5)
            order.append("first committed")

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(10)
    with Session(engine) as session, session.begin():
        transaction_lock(session, "chain")  # waits for the holder's commit
        order.append("second got the lock")
    thread.join()
    assert order == ["first committed", "second got the lock"]


def test_sqlite_always_grants(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with try_session_lock(engine, "sweep") as held, try_session_lock(engine, "sweep") as again:
        assert held and again
    with Session(engine) as session, session.begin():
        transaction_lock(session, "chain")  # a no-op, no error
