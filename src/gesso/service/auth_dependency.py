"""The one authorisation dependency: every route declares `Depends(require(Action.X))`."""

from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gesso.governance.authorisation import Principal, authorise
from gesso.governance.roles import Action
from gesso.service.app_state import get_state

# declared so the OpenAPI document shows bearer auth; the decision reads the raw header
_bearer_scheme = HTTPBearer(auto_error=False, description="A Gesso API key: `Authorization: Bearer <key>`")


def require(action: Action) -> Callable[..., Principal]:
    """A dependency that authenticates the key, applies its rate limit and checks its role.

    It is a plain function, so FastAPI runs its database lookup in the thread pool.
    """

    def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    ) -> Principal:
        state = get_state(request)
        with state.sessions() as session:
            return authorise(
                session,
                request.headers.get("authorization"),
                action,
                state.limiter,
                state.settings.rate_limit_per_minute,
            )

    return dependency
