"""The one authorisation dependency: every route declares `Depends(require(Action.X))`."""

from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gesso.governance.authorisation import Principal, check_role
from gesso.governance.roles import Action
from gesso.service.app_state import get_state
from gesso.service.authentication import PRINCIPAL_SCOPE_KEY, authenticate_request, source_address

# declared so the OpenAPI document shows bearer auth; the decision reads the raw header
_bearer_scheme = HTTPBearer(auto_error=False, description="A Gesso API key: `Authorization: Bearer <key>`")


def require(action: Action) -> Callable[..., Principal]:
    """A dependency that checks the role of the principal `AuthenticationMiddleware` found.

    On a route the middleware leaves open (an image's content, which takes a signed token or a
    key) it authenticates here, the same way. A plain function, so FastAPI runs any database
    lookup in the thread pool.
    """

    def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    ) -> Principal:
        principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is None:
            principal = authenticate_request(
                get_state(request), request.headers.get("authorization"), source_address(request.scope)
            )
            request.scope[PRINCIPAL_SCOPE_KEY] = principal
        check_role(principal, action)
        return principal

    return dependency
