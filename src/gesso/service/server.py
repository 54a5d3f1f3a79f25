"""Run the service under uvicorn: migrate, create the first tenant and admin key on first start
(the key is printed once), then serve."""

from __future__ import annotations

from typing import Callable

import uvicorn

from gesso.governance.api_keys import bootstrap_first_tenant
from gesso.offline import force_offline
from gesso.service.app import create_app
from gesso.service.request_context import configure_json_logging
from gesso.settings import Settings
from gesso.store.database import database_url, open_database


def first_start(settings: Settings) -> str | None:
    """Migrate and, on an empty database, create the first tenant; returns its admin key once."""
    sessions = open_database(database_url(settings.data_dir, settings.database_url))
    try:
        return bootstrap_first_tenant(sessions, settings.first_tenant)
    finally:
        sessions.kw["bind"].dispose()


def serve(settings: Settings, announce: Callable[[str], None]) -> None:
    """Blocks until the server stops. `announce` receives the lines meant for the operator."""
    force_offline()
    configure_json_logging()
    secret = first_start(settings)
    if secret is not None:
        announce(f"Created tenant {settings.first_tenant!r} with an admin API key (shown only this once):")
        announce(secret)
    announce(f"Gesso is serving on http://{settings.host}:{settings.port}/v1")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the JSON handlers set above
        access_log=False,  # RequestContextMiddleware logs each request with its id
        timeout_graceful_shutdown=10,
    )
