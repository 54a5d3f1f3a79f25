"""Who is calling and may they do this: bearer key -> principal -> rate limit -> role check."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from gesso.governance.access_errors import PermissionDenied, RateLimited, Unauthenticated
from gesso.governance.api_keys import find_active_key
from gesso.governance.rate_limits import KeyRateLimiter
from gesso.governance.roles import Action, Role, role_allows


@dataclass(frozen=True)
class Principal:
    key_id: str
    tenant_id: str
    role: Role


def bearer_secret(authorization: str | None) -> str:
    """`Bearer <secret>` -> secret; Unauthenticated for a missing or malformed header."""
    if not authorization:
        raise Unauthenticated("no API key: send `Authorization: Bearer <key>`")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("malformed Authorization header: expected `Bearer <key>`")
    return secret.strip()


def authorise(
    session: Session,
    authorization: str | None,
    action: Action,
    limiter: KeyRateLimiter,
    default_per_minute: int,
) -> Principal:
    """The one authorisation decision every route makes.

    Raises Unauthenticated (401), RateLimited (429) or PermissionDenied (403).
    """
    key = find_active_key(session, bearer_secret(authorization))
    if key is None:
        raise Unauthenticated("incorrect or revoked API key")
    per_minute = key.rate_limit_per_minute or default_per_minute
    wait = limiter.retry_after(key.id, per_minute)
    if wait:
        raise RateLimited(f"rate limit of {per_minute} requests per minute reached for this key", wait)
    role = Role(key.role)
    if not role_allows(role, action):
        raise PermissionDenied(f"the {role.value} role may not do {action.value}")
    return Principal(key_id=key.id, tenant_id=key.tenant_id, role=role)
