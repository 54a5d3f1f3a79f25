"""What every route declares: the app's state, the caller with the role an action needs, and the
tenant's own records.

`AuthenticationMiddleware` finds the key's principal before anything reads the body; the role
aliases below (`CanCreateImages`, ...) only check its role. A route takes `state: State` for the
app's state; `tenant_record` is the one tenancy check (another tenant's id reads as missing).
"""

from __future__ import annotations

from typing import Annotated, Callable, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from gesso.governance.authorisation import Principal, check_role
from gesso.governance.roles import Action
from gesso.service.http.authentication import (
    PRINCIPAL_SCOPE_KEY,
    authenticate_request,
    source_address,
)
from gesso.service.http.errors import not_found
from gesso.service.runtime.app_state import ServiceState

Record = TypeVar("Record")

# declared so the OpenAPI document shows bearer auth; the decision reads the raw header
_bearer_scheme = HTTPBearer(auto_error=False, description="A Gesso API key: `Authorization: Bearer <key>`")


def get_state(request: Request) -> ServiceState:
    """The running app's state (set when the app starts)."""
    return request.app.state.gesso


async def _current_state(request: Request) -> ServiceState:
    # async: reading an attribute needs no thread from the pool
    return get_state(request)


State = Annotated[ServiceState, Depends(_current_state)]


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


# the caller, once its role allows the action (403 otherwise)
CanCreateImages = Annotated[Principal, Depends(require(Action.IMAGES_CREATE))]
CanReadImages = Annotated[Principal, Depends(require(Action.IMAGES_READ))]
CanReadJobs = Annotated[Principal, Depends(require(Action.JOBS_READ))]
CanReadModels = Annotated[Principal, Depends(require(Action.MODELS_READ))]
CanReadAudit = Annotated[Principal, Depends(require(Action.AUDIT_READ))]
CanManageKeys = Annotated[Principal, Depends(require(Action.KEYS_MANAGE))]
CanManageSettings = Annotated[Principal, Depends(require(Action.SETTINGS_MANAGE))]
CanVerifyProvenance = Annotated[Principal, Depends(require(Action.PROVENANCE_VERIFY))]


def tenant_record(
    state: ServiceState,
    tenant_id: str,
    find: Callable[[Session, str, str], Record | None],
    ident: str,
    what: str,
) -> Record:
    """The tenant's record `ident`, read with `find(session, tenant_id, ident)`.

    Raises ApiError 404 naming `what` when there is none: a missing id and another tenant's id
    read alike, so no caller learns what other tenants hold.
    """
    with state.sessions() as session:
        record = find(session, tenant_id, ident)
    if record is None:
        raise not_found(what, ident)
    return record
