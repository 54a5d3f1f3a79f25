"""A new tenant's data key is made once, however many writers make it at the same moment."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from gesso.store.database import database_url, make_engine
from gesso.store.key_provider import provider_from_file
from gesso.store.schema_migrations import upgrade_to_head
from gesso.store.tables import TenantDataKey
from gesso.store.tenant_keys import TenantKeyring


def keyring(tmp_path) -> TenantKeyring:
    engine = make_engine(database_url(tmp_path))
    upgrade_to_head(engine)
    return TenantKeyring(engine, provider_from_file(tmp_path / "master.key", create=True))


def test_a_key_made_by_another_writer_between_read_and_insert_is_used_not_a_500(tmp_path, monkeypatch):
    ring = keyring(tmp_path)
    theirs = ring.data_key("tenant_a")  # the other writer's key, committed
    reads = iter([None])  # our first read happened before their commit
    real = TenantKeyring._stored
    monkeypatch.setattr(TenantKeyring, "_stored", staticmethod(lambda c, t: next(reads, real(c, t))))
    with ring.engine.begin() as connection:  # inside a caller's transaction, as from an ORM flush
        assert ring.data_key("tenant_a", connection) == theirs


def test_eight_concurrent_first_uses_get_one_key(tmp_path):
    ring = keyring(tmp_path)
    barrier = threading.Barrier(8)
    keys, errors = [], []

    def first_use(in_transaction: bool) -> None:
        barrier.wait()
        try:
            if in_transaction:
                with ring.engine.begin() as connection:
                    keys.append(ring.data_key("tenant_b", connection))
            else:
                keys.append(ring.data_key("tenant_b"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(i % 2 == 0,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(keys) == 8 and len(set(keys)) == 1
    with ring.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(TenantDataKey)) == 1
