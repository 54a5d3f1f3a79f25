"""Write an audit record for every refused request: 401 (no or bad key), 403 (role may not),
404 (a missing id, which includes another tenant's id). Pure ASGI, so streams pass through."""

from __future__ import annotations

from typing import Callable

from starlette.concurrency import run_in_threadpool

from gesso.governance.api_keys import find_active_key
from gesso.governance.audit_events import key_actor, record_refusal
from gesso.governance.authorisation import bearer_secret

REFUSALS = (401, 403, 404)


class RefusalAuditMiddleware:
    def __init__(self, app: Callable, state: Callable[[], object]):
        self.app = app
        self.state = state  # returns the ServiceState once the app has started

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        state = self.state()
        if status in REFUSALS and state is not None and getattr(state, "governance", None) is not None:
            authorization = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            await run_in_threadpool(_record, state, scope["method"], scope["path"], status, authorization)


def _record(state, method: str, path: str, status: int, authorization: str) -> None:  # noqa: ANN001
    tenant_id, actor = None, "anonymous"
    try:
        secret = bearer_secret(authorization)
        with state.sessions() as session:
            key = find_active_key(session, secret)
        if key is not None:
            tenant_id, actor = key.tenant_id, key_actor(key.id)
        else:
            actor = "unknown key"
    except Exception:  # noqa: BLE001 - no or malformed header: an anonymous refusal
        pass
    code = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}[status]
    record_refusal(state.governance.audit, tenant_id, actor, method=method, path=path[:250], status=status, code=code)
