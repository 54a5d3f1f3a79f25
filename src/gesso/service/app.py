"""`create_app(settings)`: the Gesso HTTP service, OpenAI Images API compatible."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from gesso.service.app_state import build_state
from gesso.service.body_limit import BodyLimitMiddleware
from gesso.service.errors import install_error_handlers
from gesso.service.request_context import RequestContextMiddleware
from gesso.service.routes import health, images, jobs, models
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
        try:
            yield
        finally:
            state.worker.stop()

    app = FastAPI(title="Gesso", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    for module in (images, jobs, models, health):
        app.include_router(module.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    def observe(method: str, route: str, status: int, seconds: float) -> None:
        state = getattr(app.state, "gesso", None)
        if state is not None:
            state.metrics.observe_request(method, route, status, seconds)

    app.add_middleware(RequestContextMiddleware, observe=observe)  # outermost: sees every answer
    return app
