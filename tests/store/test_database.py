"""The database opens in WAL mode with the shipped migrations applied at head."""

from __future__ import annotations

from sqlalchemy import inspect, text

from gesso.store.database import database_url, make_engine, open_database
from gesso.store.schema_migrations import current_revision, head_revision, upgrade_to_head


def test_open_database_migrates_to_head_in_wal_mode(tmp_path):
    sessions = open_database(database_url(tmp_path))
    engine = sessions.kw["bind"]
    assert (tmp_path / "gesso.db").is_file()
    assert current_revision(engine) == head_revision() is not None
    assert {"tenants", "api_keys", "jobs", "images"} <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrating_twice_is_a_no_op_and_keeps_rows(tmp_path):
    url = database_url(tmp_path)
    sessions = open_database(url)
    with sessions.begin() as session:
        session.execute(text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'acme', 0)"))
    engine = make_engine(url)
    upgrade_to_head(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM tenants")).scalars().all() == ["acme"]


def test_secret_columns_hold_only_hashes(tmp_path):
    from gesso.governance.api_keys import create_api_key, secret_sha256
    from gesso.governance.tenants import create_tenant

    sessions = open_database(database_url(tmp_path))
    with sessions.begin() as session:
        tenant = create_tenant(session, "acme")
        _, secret = create_api_key(session, tenant.id, "developer")
    raw = (tmp_path / "gesso.db").read_bytes() + (tmp_path / "gesso.db-wal").read_bytes()
    assert secret.encode() not in raw
    assert secret_sha256(secret).encode() in raw
