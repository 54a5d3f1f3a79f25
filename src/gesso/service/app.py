"""`create_app(settings)`: the Gesso HTTP service, OpenAI Images API compatible."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from gesso.service.audit import routes as audit_routes
from gesso.service.console import routes as console_routes
from gesso.service.files import routes as file_routes
from gesso.service.files.upload_body_limits import RouteBodyLimits
from gesso.service.fine_tuning import routes as fine_tuning_routes
from gesso.service.health import routes as health_routes
from gesso.service.http.api_docs import mount_api_docs
from gesso.service.http.authentication import AuthenticationMiddleware
from gesso.service.http.draining import DrainGateMiddleware
from gesso.service.http.errors import install_error_handlers
from gesso.service.http.host_check import AllowedHostsMiddleware, allowed_host_names
from gesso.service.http.refusal_audit import RefusalAuditMiddleware
from gesso.service.http.request_context import RequestContextMiddleware
from gesso.service.images import job_routes, library_routes
from gesso.service.images import routes as image_routes
from gesso.service.models import routes as model_routes
from gesso.service.organization import identity_routes, key_routes, settings_routes, usage_routes
from gesso.service.provenance import routes as provenance_routes
from gesso.service.runtime.app_state import build_state
from gesso.service.runtime.governance_lifecycle import start_governance
from gesso.settings import Settings

log = logging.getLogger("gesso.service")

DESCRIPTION = """Gesso speaks the OpenAI Images API: point an OpenAI client at this server's `/v1`
with a Gesso API key. Extensions (all optional): `negative_prompt`, `seed`, `steps`,
`guidance_scale`, `strength` (edits, variations), `background: true` (queue and poll
`GET /v1/images/jobs/{id}`), `Idempotency-Key` header. Errors use OpenAI's error object."""


def create_app(settings: Settings) -> FastAPI:
    """The app; database, worker and model are opened when it starts (lifespan), not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        if state.runs_jobs_alone:
            # the only worker of this database: a job still running was cut short by a crash of
            # the last process. Elsewhere a running job may be another live worker's: its lease
            # says when it may be taken (the claim re-takes lapsed leases)
            requeued = state.queue.requeue_interrupted()
            if requeued:
                log.info("requeued %d interrupted job(s)", requeued)
        app.state.gesso = state
        state.worker.start()
        if state.throughput is not None:
            state.throughput.start()
        stop_governance = start_governance(state)  # retention sweep, final audit checkpoint
        if settings.embedded_worker:
            state.finetuning.start(only_worker=state.runs_jobs_alone)  # resumes interrupted fine-tunes
        try:
            yield
        finally:
            state.begin_shutdown()  # a no-op when SIGTERM began it already
            if settings.embedded_worker:
                state.finetuning.stop()  # pauses a running fine-tune at a checkpoint
            state.worker.stop(settings.shutdown_grace_s)  # the rest of the batch is handed back
            if state.throughput is not None:
                state.throughput.stop()
            stop_governance()

    # FastAPI's docs pages load from public CDNs: off, and served from local assets when enabled
    app = FastAPI(
        title="Gesso", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    if settings.api_docs:
        mount_api_docs(app, app.title)
    install_error_handlers(app)
    for module in (image_routes, job_routes, model_routes, health_routes):
        app.include_router(module.router)
    for module in (file_routes, fine_tuning_routes):  # fine-tuning API
        app.include_router(module.router)
    for module in (library_routes, identity_routes, key_routes, usage_routes):  # web console's API extensions
        app.include_router(module.router)
    console_routes.mount_console(app)  # `/` and `/web/...`
    for module in (audit_routes, settings_routes, provenance_routes):  # governance extensions
        app.include_router(module.router)
    current_state = lambda: getattr(app.state, "gesso", None)  # noqa: E731 - set when the app starts
    # innermost first: the body limit; authentication before anything reads a body; the refusal
    # audit around it (it sees the 401s); the drain gate refuses new work once shutdown began
    # the same limit, except `POST /v1/files` (fine-tune datasets) gets the upload limit
    app.add_middleware(
        RouteBodyLimits, max_bytes=settings.max_body_bytes, upload_max_bytes=settings.finetune_upload_max_bytes
    )
    app.add_middleware(AuthenticationMiddleware, state=current_state)
    app.add_middleware(RefusalAuditMiddleware, state=current_state)
    app.add_middleware(DrainGateMiddleware, state=current_state)

    def observe(method: str, route: str, status: int, seconds: float) -> None:
        state = getattr(app.state, "gesso", None)
        if state is not None:
            state.metrics.observe_request(method, route, status, seconds)

    # a Host naming another server is refused before anything else reads the request
    app.add_middleware(AllowedHostsMiddleware, allowed=allowed_host_names(settings))
    app.add_middleware(RequestContextMiddleware, observe=observe)  # outermost: sees every answer
    return app
