"""Checks run before a process starts serving or working: the database answers and the object
store's bucket is usable. Each failure is one sentence for the operator, never a traceback, and
nothing has been written yet (so a bad setting cannot leave a half-migrated database)."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from gesso.store.blob_keys import BlobStore

CONNECT_TIMEOUT_S = 10


class StoreUnusable(RuntimeError):
    """A database or object store setting that cannot work; the message says which and why."""


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def check_database(url: str) -> None:
    """Raise StoreUnusable unless `url` parses and its server answers a trivial query."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnusable("database: GESSO_DATABASE_URL is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        return  # a file: opening it is the check
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except (ArgumentError, ImportError) as error:
        raise StoreUnusable(f"database: cannot use {safe_url(url)}: {error}") from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()
        raise StoreUnusable(f"database: cannot connect to {safe_url(url)}: {reason[0] if reason else error}") from None
    finally:
        engine.dispose()


def check_blob_store(store: BlobStore) -> None:
    """Raise StoreUnusable when an object store's bucket is missing, refuses the credentials or
    cannot be reached (a local folder needs no check)."""
    check = getattr(store, "check", None)
    if check is None:
        return
    from gesso.store.s3_blob_store import BlobStoreMisconfigured

    try:
        check()
    except BlobStoreMisconfigured as error:
        raise StoreUnusable(str(error)) from None
