"""Audit refused requests: 401 (no or bad key), 403 (role may not), 404 (a missing id, which
includes another tenant's id). Pure ASGI, so streams pass through.

A repeated refusal (same tenant, actor, source address, status and code) is recorded once per
window and then as a summary with its count (`governance.refusal_summaries`), so a flood of bad
requests costs a bounded number of audit writes.
"""

from __future__ import annotations

from typing import Callable

from starlette.concurrency import run_in_threadpool

from gesso.governance.audit_events import key_actor, record_refusal, record_refusal_summary
from gesso.governance.authorisation import Principal, bearer_secret
from gesso.governance.refusal_summaries import RefusalGroup, RefusalRecord, RefusalSummary
from gesso.service.http.authentication import PRINCIPAL_SCOPE_KEY, header, source_address

REFUSALS = (401, 403, 404)
CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}


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
            group = refusal_group(scope, status)
            due = state.refusals.observe(group, scope["method"], scope["path"][:250])
            if due:
                await run_in_threadpool(write_refusals, state, due)


def refusal_group(scope: dict, status: int) -> RefusalGroup:
    """Who was refused: the key the authentication middleware found, else whether a key was sent."""
    principal: Principal | None = scope.get(PRINCIPAL_SCOPE_KEY)
    if principal is not None:
        tenant_id, actor = principal.tenant_id, key_actor(principal.key_id)
    else:
        tenant_id, actor = None, "anonymous"
        try:
            bearer_secret(header(scope, b"authorization"))
            actor = "unknown key"
        except Exception:  # noqa: BLE001 - no or malformed header: an anonymous refusal
            pass
    return RefusalGroup(tenant_id, actor, source_address(scope), status, CODES[status])


def write_refusals(state, due: list[RefusalRecord | RefusalSummary]) -> None:  # noqa: ANN001 - ServiceState
    """Write what the aggregator says is due (it never raises: the request is already answered)."""
    audit = state.governance.audit
    for item in due:
        group = item.group
        if isinstance(item, RefusalRecord):
            record_refusal(
                audit, group.tenant_id, group.actor, method=item.method, path=item.path,
                status=group.status, code=group.code, source=group.source,
            )
        else:
            record_refusal_summary(
                audit, group.tenant_id, group.actor, source=group.source, status=group.status, code=group.code,
                count=item.count, seconds=item.until - item.since, paths=list(item.paths),
            )
