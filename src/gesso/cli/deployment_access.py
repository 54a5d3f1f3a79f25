"""Open what a deployment keeps on disk (database, governance, sealed blobs) for a CLI command.

Imports of the store and governance happen inside the functions, so importing this module costs
nothing for commands that never touch the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gesso.cli.errors import fail

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from gesso.governance.deployment import Governance
    from gesso.settings import Settings
    from gesso.store.blob_store import BlobStore


def open_sessions() -> tuple[Settings, sessionmaker[Session]]:
    """The settings and a session factory on the deployment's database (migrated on open)."""
    from gesso.settings import get_settings
    from gesso.store.database import database_url, open_database

    settings = get_settings()
    return settings, open_database(database_url(settings.data_dir, settings.database_url))


def open_governance() -> tuple[Settings, sessionmaker[Session], Governance, BlobStore]:
    """Settings, sessions, the deployment's governance and its sealed blob store; exits 2 when
    the master key material is malformed."""
    from gesso.governance.deployment import open_governance as open_deployment_governance
    from gesso.store.blob_store import open_blob_store

    settings, sessions = open_sessions()
    try:
        governance = open_deployment_governance(settings, sessions)
    except ValueError as exc:
        fail(f"master key: {exc}")
    return settings, sessions, governance, governance.seal(open_blob_store(settings.data_dir, settings.blob_url))

