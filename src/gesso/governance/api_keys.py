"""API keys: random secrets shown once, stored only as SHA-256 hashes, each bound to one tenant
and one role. A 256-bit random secret needs no slow hash: there is nothing to brute-force."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gesso.governance.roles import Role, parse_role
from gesso.governance.tenants import create_tenant, find_tenant, tenant_count
from gesso.store.advisory_locks import transaction_lock
from gesso.store.ids import new_id
from gesso.store.tables import ApiKey

SECRET_PREFIX = "gesso-sk-"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session,
    tenant_id: str,
    role: Role | str,
    name: str = "",
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiKey, str]:
    """Add a key in the caller's transaction; returns the row and the secret (shown once)."""
    role = parse_role(role) if isinstance(role, str) else role
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ValueError("rate_limit_per_minute must be at least 1")
    secret = new_secret()
    key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        role=role.value,
        name=name,
        secret_sha256=secret_sha256(secret),
        prefix=secret[: len(SECRET_PREFIX) + 4],
        created_at=time.time(),
        rate_limit_per_minute=rate_limit_per_minute,
    )
    session.add(key)
    session.flush()
    return key, secret


def find_active_key(session: Session, secret: str) -> ApiKey | None:
    """The unrevoked key with this secret, or None."""
    return session.scalar(
        select(ApiKey).where(ApiKey.secret_sha256 == secret_sha256(secret), ApiKey.revoked_at.is_(None))
    )


def revoke_api_key(session: Session, key_id: str) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = time.time()
    return True


def bootstrap_first_tenant(sessions: sessionmaker[Session], tenant_name: str) -> str | None:
    """On an empty database, create the first tenant and an admin key; return its secret.

    Returns None when any tenant exists already (the key was printed on the first start).
    """
    with sessions.begin() as session:
        transaction_lock(session, "first-tenant")  # replicas starting together: one creates it
        if tenant_count(session) > 0:
            return None
        tenant = create_tenant(session, tenant_name)
        _, secret = create_api_key(session, tenant.id, Role.ADMIN, name="first admin key")
    return secret


def issue_key_for_tenant(
    sessions: sessionmaker[Session],
    tenant: str,
    role: str,
    name: str = "",
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for a tenant given by name or id; ValueError for an unknown tenant or role."""
    parsed = parse_role(role)
    with sessions.begin() as session:
        found = find_tenant(session, tenant)
        if found is None:
            raise ValueError(f"no tenant {tenant!r} (create it with `gesso tenants create {tenant}`)")
        return create_api_key(session, found.id, parsed, name=name, rate_limit_per_minute=rate_limit_per_minute)
