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
    rate_limit_per_minute: int | None = None  # None: the server-wide limit


def bearer_secret(authorization: str | None) -> str:
    """`Bearer <secret>` -> secret; Unauthenticated for a missing or malformed header."""
    if not authorization:
        raise Unauthenticated("no API key: send `Authorization: Bearer <key>`")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("malformed Authorization header: expected `Bearer <key>`")
    return secret.strip()


def authenticate(session: Session, authorization: str | None) -> Principal:
    """The key's principal; Unauthenticated (401) for a missing, malformed, unknown or revoked key."""
    key = find_active_key(session, bearer_secret(authorization))
    if key is None:
        raise Unauthenticated("incorrect or revoked API key")
    return Principal(key.id, key.tenant_id, Role(key.role), key.rate_limit_per_minute)


def check_rate_limit(principal: Principal, limiter: KeyRateLimiter, default_per_minute: int) -> None:
    """Spend one of the key's tokens; RateLimited (429) when none is left."""
    per_minute = principal.rate_limit_per_minute or default_per_minute
    wait = limiter.retry_after(principal.key_id, per_minute)
    if wait:
        raise RateLimited(f"rate limit of {per_minute} requests per minute reached for this key", wait)


def check_role(principal: Principal, action: Action) -> None:
    """PermissionDenied (403) unless the key's role may do `action`."""
    if not role_allows(principal.role, action):
        raise PermissionDenied(f"the {principal.role.value} role may not do {action.value}")


def authorise(
    session: Session,
    authorization: str | None,
    action: Action,
    limiter: KeyRateLimiter,
    default_per_minute: int,
) -> Principal:
    """The whole decision in one call: authenticate, rate limit, role.

    The service splits it: its authentication middleware runs the first two before a body is
    read, and the route dependency the role check. Raises Unauthenticated (401), RateLimited
    (429) or PermissionDenied (403).
    """
    principal = authenticate(session, authorization)
    check_rate_limit(principal, limiter, default_per_minute)
    check_role(principal, action)
    return principal
