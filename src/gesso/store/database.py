"""Open the database: SQLite in WAL mode under the data directory by default, any SQLAlchemy URL
otherwise; migrations are applied to head before the first session is handed out."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from gesso.store.schema_migrations import upgrade_to_head

DATABASE_FILE = "gesso.db"
DEFAULT_BUSY_TIMEOUT_S = 30.0  # command-line tools wait; the server passes its shorter setting


def database_url(data_dir: Path, configured: str | None = None) -> str:
    """The configured URL, or the embedded default `sqlite:///<data_dir>/gesso.db`."""
    return configured or f"sqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def make_engine(url: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    """An engine; for SQLite, every connection gets WAL, a busy timeout and foreign keys.

    `busy_timeout_s` bounds how long one statement waits for a lock (SQLite's busy timeout,
    PostgreSQL's lock_timeout, the pool's wait for a connection), so a locked database fails a
    request quickly (the service answers 503) instead of holding it.
    """
    if not url.startswith("sqlite"):
        connect_args = {}
        if url.startswith("postgresql"):
            connect_args["options"] = f"-c lock_timeout={int(busy_timeout_s * 1000)}"
        return create_engine(url, pool_pre_ping=True, pool_timeout=busy_timeout_s, connect_args=connect_args)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def open_database(url: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> sessionmaker[Session]:
    """Engine + migrations to head + a session factory (objects stay usable after commit)."""
    engine = make_engine(url, busy_timeout_s)
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
