"""Run the service under uvicorn: migrate, create the first tenant and admin key on first start
(the key is printed once), then serve."""

from __future__ import annotations

import math
from types import FrameType
from typing import Callable

import uvicorn

from gesso.governance.api_keys import bootstrap_first_tenant
from gesso.governance.deployment import open_audit_log, record_first_start
from gesso.governance.egress_wiring import guard_process_egress
from gesso.offline import force_offline
from gesso.service.app import create_app
from gesso.service.http.header_timeout import header_deadline_protocol
from gesso.service.http.request_context import configure_json_logging
from gesso.service.runtime.job_runtime import check_stores
from gesso.settings import Settings
from gesso.store.database import database_url, open_database

SHUTDOWN_ANSWER_MARGIN_S = 5.0


def first_start(settings: Settings, check: bool = True) -> str | None:
    """Check the database and object store settings (StoreUnusable names what is wrong, before
    anything is written; `check=False` when the caller has), migrate and, on an empty database,
    create the first tenant; returns its admin key once."""
    if check:
        check_stores(settings)
    sessions = open_database(database_url(settings.data_dir, settings.database_url))
    try:
        secret = bootstrap_first_tenant(sessions, settings.first_tenant)
        if secret is not None:
            record_first_start(settings, sessions, secret)  # audited
        return secret
    finally:
        sessions.kw["bind"].dispose()


def check_engine(settings: Settings) -> None:
    """With `engine: ray` and a worker in this process: join the cluster and start the generation
    application now, so a bad cluster setting is one line (RayUnavailable) before serving."""
    if settings.uses_ray and settings.embedded_worker:
        from gesso.service.runtime.ray_generation import prepare_ray_engine

        prepare_ray_engine(settings)


def serve(settings: Settings, announce: Callable[[str], None]) -> None:
    """Blocks until the server stops. `announce` receives the lines meant for the operator."""
    force_offline()
    check_stores(settings)  # before the log is set up: a refusal is one line, not the client's chatter
    check_engine(settings)
    configure_json_logging()
    secret = first_start(settings, check=False)
    if secret is not None:
        announce(f"Created tenant {settings.first_tenant!r} with an admin API key (shown only this once):")
        announce(secret)
    # from here on, only loopback and configured endpoints; other attempts are audited
    guard_process_egress(settings, open_audit_log(settings, open_database(database_url(settings.data_dir, settings.database_url))))
    announce(f"Gesso is serving on http://{settings.host}:{settings.port}/v1")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the JSON handlers set above
        access_log=False,  # RequestContextMiddleware logs each request with its id
        http=header_deadline_protocol(settings.header_read_timeout_s),
        # the running batch gets `shutdown_grace_s`; the margin lets the waiting requests send
        # their answers (a result, or 503 naming the kept job) before connections are cut
        timeout_graceful_shutdown=int(math.ceil(settings.shutdown_grace_s + SHUTDOWN_ANSWER_MARGIN_S)),
    )
    DrainingServer(config, on_exit=lambda: _begin_shutdown(app)).run()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app the moment SIGTERM/SIGINT arrives (uvicorn itself only
    tells it after every connection has closed)."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]):
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            self.on_exit()
        finally:
            super().handle_exit(sig, frame)


def _begin_shutdown(app) -> None:  # noqa: ANN001 - FastAPI
    state = getattr(app.state, "gesso", None)
    if state is not None:
        state.begin_shutdown()
