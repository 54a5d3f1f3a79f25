"""The same Alembic migrations on PostgreSQL as on SQLite: same tables, columns and indexes."""

from __future__ import annotations

from sqlalchemy import inspect, text

from gesso.store.database import make_engine, open_database
from gesso.store.schema_migrations import upgrade_to_head


def _shape(engine) -> dict[str, tuple[list[str], list[tuple]]]:  # noqa: ANN001
    """Each table's columns and its indexes and unique constraints by column (their generated
    names differ: PostgreSQL names an inline unique constraint, SQLite leaves it unnamed)."""
    found = inspect(engine)
    shape = {}
    for table in found.get_table_names():
        if table == "alembic_version":
            continue
        keyed = {(tuple(index["column_names"]), bool(index["unique"])) for index in found.get_indexes(table)}
        keyed |= {(tuple(unique["column_names"]), True) for unique in found.get_unique_constraints(table)}
        shape[table] = (sorted(column["name"] for column in found.get_columns(table)), sorted(keyed))
    return shape


def test_postgres_and_sqlite_migrate_to_the_same_schema(tmp_path, postgres_url: str) -> None:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    postgres = make_engine(postgres_url)
    upgrade_to_head(sqlite)
    upgrade_to_head(postgres)
    assert _shape(postgres) == _shape(sqlite)
    with postgres.connect() as conn, sqlite.connect() as other:
        heads = [c.execute(text("SELECT version_num FROM alembic_version")).scalar_one() for c in (conn, other)]
    assert heads[0] == heads[1]


def test_migrating_postgres_twice_keeps_rows(postgres_url: str) -> None:
    from gesso.store.tables import Tenant

    sessions = open_database(postgres_url)
    with sessions() as session:
        session.add(Tenant(id="t-1", name="acme", created_at=1.0))
        session.commit()
    sessions = open_database(postgres_url)  # a second start migrates nothing and loses nothing
    with sessions() as session:
        assert session.get(Tenant, "t-1").name == "acme"


def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    import subprocess
    import sys

    code = "import sys; from gesso.store.database import open_database; open_database(sys.argv[1]); print('ok')"
    starts = [subprocess.Popen([sys.executable, "-c", code, postgres_url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [start.communicate(timeout=120) for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0], [err[-800:] for _, err in results]
    from gesso.store.schema_migrations import current_revision, head_revision

    assert current_revision(make_engine(postgres_url)) == head_revision()
