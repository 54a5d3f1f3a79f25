"""`GET /v1/me` (Gesso extension): who the presented key is — tenant, role, key prefix and
what the role may do. The web console reads it at sign-in to decide which controls to show."""

from __future__ import annotations

from fastapi import APIRouter

from gesso.governance.roles import PERMISSIONS
from gesso.service.deps import CanReadModels, State
from gesso.store.tables import ApiKey, Tenant

router = APIRouter(prefix="/v1", tags=["identity"])


@router.get("/me", summary="The calling key: tenant, role, prefix and permissions (Gesso extension)")
def read_me(
    state: State,
    # every role may read models, so this admits any valid key (and applies its rate limit)
    principal: CanReadModels,
) -> dict:
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
