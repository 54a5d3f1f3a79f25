"""`create_app(settings)`: the Gesso HTTP service, OpenAI Images API compatible."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from gesso.service.app_state import build_state
from gesso.service.upload_body_limits import RouteBodyLimits
from gesso.service.errors import install_error_handlers
from gesso.service.request_context import RequestContextMiddleware
from gesso.service.routes import health, images, jobs, models
from gesso.service.routes import files, fine_tuning  # fine-tuning API
from gesso.service.routes import console, image_library, me  # web console
from gesso.service.routes import organization_keys, usage  # console's admin page
from gesso.service.routes import audit, organization, provenance  # governance
from gesso.service.governance_lifecycle import start_governance
from gesso.service.refusal_audit import RefusalAuditMiddleware
from gesso.service.api_docs import mount_api_docs
from gesso.service.host_check import AllowedHostsMiddleware, allowed_host_names
from gesso.service.authentication import AuthenticationMiddleware
from gesso.service.draining import DrainGateMiddleware
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
        requeued = state.queue.requeue_interrupted()
        if requeued:
            log.info("requeued %d interrupted job(s)", requeued)
        app.state.gesso = state
        state.worker.start()
        stop_governance = start_governance(state)  # retention sweep, final audit checkpoint
        state.finetuning.start()  # resumes interrupted fine-tunes
        try:
            yield
        finally:
            state.begin_shutdown()  # a no-op when SIGTERM began it already
            state.finetuning.stop()  # pauses a running fine-tune at a checkpoint
            state.worker.stop(settings.shutdown_grace_s)  # the rest of the batch is handed back
            stop_governance()

    # FastAPI's docs pages load from public CDNs: off, and served from local assets when enabled
    app = FastAPI(
        title="Gesso", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    if settings.api_docs:
        mount_api_docs(app, app.title)
    install_error_handlers(app)
    for module in (images, jobs, models, health):
        app.include_router(module.router)
    for module in (files, fine_tuning):  # fine-tuning API
        app.include_router(module.router)
    for module in (image_library, me, organization_keys, usage):  # web console's API extensions
        app.include_router(module.router)
    console.mount_console(app)  # `/` and `/web/...`
    for module in (audit, organization, provenance):  # governance extensions
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
