"""`GET /v1/me` (Gesso extension): who the presented key is — tenant, role, key prefix and
what the role may do. The web console reads it at sign-in to decide which controls to show."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from gesso.governance.authorisation import Principal
from gesso.governance.roles import PERMISSIONS, Action
from gesso.service.app_state import get_state
from gesso.service.auth_dependency import require
from gesso.store.tables import ApiKey, Tenant

router = APIRouter(prefix="/v1", tags=["identity"])


@router.get("/me", summary="The calling key: tenant, role, prefix and permissions (Gesso extension)")
def read_me(
    request: Request,
    # every role may read models, so this admits any valid key (and applies its rate limit)
    principal: Annotated[Principal, Depends(require(Action.MODELS_READ))],
) -> dict:
    state = get_state(request)
    with state.sessions() as session:
        tenant = session.get(Tenant, principal.tenant_id)
        key = session.get(ApiKey, principal.key_id)
        return {
            "object": "identity",
            "tenant": {"id": tenant.id, "name": tenant.name},
            "role": principal.role.value,
            "key": {"id": key.id, "name": key.name, "prefix": key.prefix, "created_at": int(key.created_at)},
            "permissions": sorted(action.value for action in PERMISSIONS[principal.role]),
        }
