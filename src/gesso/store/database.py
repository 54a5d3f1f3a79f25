"""Open the database: SQLite in WAL mode under the data directory by default, any SQLAlchemy URL
otherwise; migrations are applied to head before the first session is handed out."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from gesso.store.schema_migrations import upgrade_to_head

DATABASE_FILE = "gesso.db"


def database_url(data_dir: Path, configured: str | None = None) -> str:
    """The configured URL, or the embedded default `sqlite:///<data_dir>/gesso.db`."""
    return configured or f"sqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def make_engine(url: str) -> Engine:
    """An engine; for SQLite, every connection gets WAL, a busy timeout and foreign keys."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def open_database(url: str) -> sessionmaker[Session]:
    """Engine + migrations to head + a session factory (objects stay usable after commit)."""
    engine = make_engine(url)
    upgrade_to_head(engine)
    return sessionmaker(engine, expire_on_commit=False)


def database_reachable(sessions: sessionmaker[Session]) -> bool:
    """True when a trivial query answers; used by /readyz."""
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False
