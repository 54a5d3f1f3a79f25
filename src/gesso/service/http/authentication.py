"""Authenticate every protected `/v1` request before anything reads its body.

`AuthenticationMiddleware` (pure ASGI) looks the bearer key up, applies the key's rate limit and
leaves the principal in the scope; `require(Action.X)` then only checks the role. So a request
without a valid key is answered 401 whatever its body holds, and a flood of them costs no body
parsing. Requests that fail to authenticate are limited per source address (429 past
`auth_failures_per_minute`). Public `/v1` routes: an image's content with a signed `token`
(the token is checked by the route). Health and metrics live outside `/v1`.
"""

from __future__ import annotations

import logging
import re
from typing import Callable
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool

from gesso.governance.access_errors import RateLimited, Unauthenticated
from gesso.governance.authorisation import Principal, authenticate, check_rate_limit
from gesso.service.http.errors import as_api_error, error_response

PRINCIPAL_SCOPE_KEY = "gesso.principal"
_SIGNED_CONTENT = re.compile(r"^/v1/images/[^/]+/content$")

log = logging.getLogger("gesso.service")


def needs_key(scope: dict) -> bool:
    """Whether the request is for a protected route (everything under `/v1` but signed URLs)."""
    path = scope["path"]
    if path != "/v1" and not path.startswith("/v1/"):
        return False
    if _SIGNED_CONTENT.match(path):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return "token" not in query
    return True


def source_address(scope: dict) -> str:
    """The peer's address (behind a proxy: the proxy's, unless uvicorn is told to trust it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def header(scope: dict, name: bytes) -> str | None:
    value = dict(scope.get("headers", [])).get(name)
    return None if value is None else value.decode("latin-1")


def authenticate_request(state, authorization: str | None, source: str) -> Principal:  # noqa: ANN001 - ServiceState
    """The key's principal, its rate limit spent. Raises Unauthenticated (401), or RateLimited
    (429) once the source address has failed `auth_failures_per_minute` times in a minute, or
    when the key's own limit is reached."""
    try:
        with state.sessions() as session:
            principal = authenticate(session, authorization)
    except Unauthenticated:
        wait = state.auth_failures.retry_after(source)
        if wait:
            raise RateLimited("too many requests without a valid API key from this address", wait) from None
        raise
    check_rate_limit(principal, state.limiter, state.settings.rate_limit_per_minute)
    return principal


class AuthenticationMiddleware:
    def __init__(self, app: Callable, state: Callable[[], object]):
        self.app = app
        self.state = state  # returns the ServiceState once the app has started

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        state = self.state() if scope["type"] == "http" and needs_key(scope) else None
        if state is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await run_in_threadpool(
                authenticate_request, state, header(scope, b"authorization"), source_address(scope)
            )
        except Exception as exc:  # noqa: BLE001 - every failure is answered in OpenAI's shape
            error = as_api_error(exc)
            if error.code == "internal_error":
                log.error("authentication failed", exc_info=exc)
            await error_response(error)(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)
