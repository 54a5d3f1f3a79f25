"""Operations endpoints: liveness, readiness (model loaded, database reachable), metrics.

They carry no tenant data and need no key, so probes and scrapers work unconfigured.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gesso.service.deps import State
from gesso.store.database import database_reachable

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable, and with an embedded worker: default model loaded, worker running")
def readyz(state: State) -> JSONResponse:
    checks = {"database": database_reachable(state.sessions)}
    if state.settings.embedded_worker:  # an API-only replica (`--no-worker`) is ready without one
        checks["worker"] = state.worker.ready
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
