"""Apply the Alembic migrations shipped inside the package, programmatically (no alembic.ini)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from gesso.store.advisory_locks import lock_key

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_ALEMBIC = threading.Lock()  # Alembic's command API keeps module-level state: one run at a time


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there.

    Everything runs in one transaction. On PostgreSQL, where DDL is transactional, a failed
    migration leaves the schema as it was, and replicas starting together queue on an advisory
    lock: the first migrates, the others then find the schema at head.
    """
    cfg = alembic_config()
    with _ALEMBIC, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("schema-migrations")})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
