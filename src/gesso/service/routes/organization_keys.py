"""`/v1/organization/api_keys` (Gesso extension in the style of OpenAI's admin API; admin only):
the organisation's own API keys. The secret is in the creation response only; listings show the
prefix. Creating and revoking are audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.concurrency import run_in_threadpool

from gesso.governance.api_keys import create_api_key
from gesso.governance.audit_events import key_actor, record_key_created, record_key_revoked
from gesso.governance.authorisation import Principal
from gesso.governance.key_administration import (
    InvalidKeyRequest,
    KeyNotFound,
    LastAdminKey,
    checked_key_request,
    revoke_tenant_key,
    tenant_keys,
)
from gesso.governance.roles import Action
from gesso.jobs.request_errors import BadRequest
from gesso.service.app_state import ServiceState, get_state
from gesso.service.auth_dependency import require
from gesso.service.client_types import NameText, id_path
from gesso.service.errors import ApiError, not_found
from gesso.store.tables import ApiKey

router = APIRouter(prefix="/v1/organization/api_keys", tags=["organization"])
KeyAdmin = Annotated[Principal, Depends(require(Action.KEYS_MANAGE))]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NameText
    role: NameText
    # the range is checked (with its message) by `checked_key_request`; this bound keeps a huge
    # number from reaching it
    rate_limit_per_minute: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] | None = None


def key_object(key: ApiKey) -> dict:
    """A key as listed: never its secret or the secret's hash."""
    return {
        "object": "organization.api_key",
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "created_at": int(key.created_at),
        "revoked_at": int(key.revoked_at) if key.revoked_at is not None else None,
        "rate_limit_per_minute": key.rate_limit_per_minute,
    }


@router.get("", summary="List the organisation's API keys, revoked ones included")
def list_keys(request: Request, principal: KeyAdmin) -> dict:
    with get_state(request).sessions() as session:
        data = [key_object(key) for key in tenant_keys(session, principal.tenant_id)]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": False}


def _create(state: ServiceState, principal: Principal, body: KeyCreate) -> dict:
    try:
        name, role = checked_key_request(body.name, body.role, body.rate_limit_per_minute)
    except InvalidKeyRequest as exc:
        raise BadRequest(str(exc), exc.field) from None
    with state.sessions.begin() as session:
        key, secret = create_api_key(session, principal.tenant_id, role, name, body.rate_limit_per_minute)
    record_key_created(state.governance.audit, principal.tenant_id, key_actor(principal.key_id), key.id, role.value)
    # `value`, as in OpenAI's admin API: the only time the secret leaves the server
    return {**key_object(key), "value": secret}


@router.post("", summary="Create an API key; the response holds its secret, shown this once")
async def create_key(request: Request, principal: KeyAdmin, body: KeyCreate) -> dict:
    return await run_in_threadpool(_create, get_state(request), principal, body)


def _revoke(state: ServiceState, principal: Principal, key_id: str) -> dict:
    try:
        with state.sessions.begin() as session:
            key, revoked_now = revoke_tenant_key(session, principal.tenant_id, key_id)
    except KeyNotFound:
        raise not_found("API key", key_id, code="api_key_not_found") from None
    except LastAdminKey:
        raise ApiError(
            409, "this is the organisation's last active admin key; create another admin key before revoking it",
            code="last_admin_key",
        ) from None
    if revoked_now:
        record_key_revoked(state.governance.audit, principal.tenant_id, key_actor(principal.key_id), key.id)
    return key_object(key)


@router.post("/{key_id}/revoke", summary="Revoke an API key; it stops working at once")
async def revoke_key(request: Request, principal: KeyAdmin, key_id: id_path()) -> dict:
    return await run_in_threadpool(_revoke, get_state(request), principal, key_id)


@router.delete("/{key_id}", summary="Revoke an API key (OpenAI's admin API verb); the record stays listed")
async def delete_key(request: Request, principal: KeyAdmin, key_id: id_path()) -> dict:
    return await run_in_threadpool(_revoke, get_state(request), principal, key_id)
