"""An organisation's admins managing its own API keys: list, check new-key input, revoke. Every
function is scoped to one tenant, so another tenant's key id behaves exactly like an unknown one.
Over HTTP a tenant never loses its last active admin key (only `gesso keys revoke` can do that)."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from gesso.governance.roles import Role, parse_role
from gesso.store.tables import ApiKey

NAME_MAX_CHARS = 100  # the `api_keys.name` column
RATE_LIMIT_RANGE = (1, 100_000)  # requests per minute


class KeyNotFound(Exception):
    """No key with this id in the tenant (it may exist in another tenant)."""


class LastAdminKey(Exception):
    """Revoking this key would leave the tenant without an active admin key."""


class InvalidKeyRequest(ValueError):
    """A bad field of a new-key request; `field` names it."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def checked_key_request(name: str, role: str, rate_limit_per_minute: int | None) -> tuple[str, Role]:
    """The stripped name and the parsed role; InvalidKeyRequest naming the first bad field."""
    name = name.strip()
    if not name:
        raise InvalidKeyRequest("name must not be empty", "name")
    if len(name) > NAME_MAX_CHARS:
        raise InvalidKeyRequest(f"name must be at most {NAME_MAX_CHARS} characters", "name")
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise InvalidKeyRequest(str(exc), "role") from None
    low, high = RATE_LIMIT_RANGE
    if rate_limit_per_minute is not None and not low <= rate_limit_per_minute <= high:
        raise InvalidKeyRequest(f"rate_limit_per_minute must be between {low} and {high}", "rate_limit_per_minute")
    return name, parsed


def tenant_keys(session: Session, tenant_id: str) -> list[ApiKey]:
    """Every key of the tenant, revoked ones included, oldest first."""
    return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)))


def revoke_tenant_key(session: Session, tenant_id: str, key_id: str) -> tuple[ApiKey, bool]:
    """Revoke a key of the tenant in the caller's transaction; returns it and whether this call
    revoked it (False: it was revoked already).

    Raises KeyNotFound for an id outside the tenant, LastAdminKey when it is the tenant's only
    active admin key.
    """
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise KeyNotFound(key_id)
    if key.revoked_at is not None:
        return key, False
    if key.role == Role.ADMIN.value and _active_admin_keys(session, tenant_id) <= 1:
        raise LastAdminKey(key_id)
    key.revoked_at = time.time()
    return key, True


def _active_admin_keys(session: Session, tenant_id: str) -> int:
    rows = session.scalars(
        select(ApiKey.id).where(
            ApiKey.tenant_id == tenant_id, ApiKey.role == Role.ADMIN.value, ApiKey.revoked_at.is_(None)
        )
    )
    return len(list(rows))
