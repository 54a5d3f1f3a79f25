"""Run the service under uvicorn: migrate, create the first tenant and admin key on first start
(the key is printed once), then serve."""

from __future__ import annotations

from typing import Callable

import uvicorn

from gesso.governance.api_keys import bootstrap_first_tenant
from gesso.governance.deployment import open_audit_log, record_first_start
from gesso.governance.egress_wiring import guard_process_egress
from gesso.offline import force_offline
from gesso.service.app import create_app
from gesso.service.request_context import configure_json_logging
from gesso.settings import Settings
from gesso.store.database import database_url, open_database


def first_start(settings: Settings) -> str | None:
    """Migrate and, on an empty database, create the first tenant; returns its admin key once."""
    sessions = open_database(database_url(settings.data_dir, settings.database_url))
    try:
        secret = bootstrap_first_tenant(sessions, settings.first_tenant)
        if secret is not None:
            record_first_start(settings, sessions, secret)  # issue 5: audited
        return secret
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
    # issue 5: from here on, only loopback and configured endpoints; other attempts are audited
    guard_process_egress(settings, open_audit_log(settings, open_database(database_url(settings.data_dir, settings.database_url))))
    announce(f"Gesso is serving on http://{settings.host}:{settings.port}/v1")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the JSON handlers set above
        access_log=False,  # RequestContextMiddleware logs each request with its id
        timeout_graceful_shutdown=10,
    )
