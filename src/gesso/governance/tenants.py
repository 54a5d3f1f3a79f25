"""Tenants: the unit of isolation. Every job, image and key belongs to exactly one."""

from __future__ import annotations

import re
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gesso.store.ids import new_id
from gesso.store.tables import Tenant

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def create_tenant(session: Session, name: str, images_per_day: int | None = None) -> Tenant:
    """Add a tenant in the caller's transaction; ValueError for a bad or taken name."""
    if not _NAME.match(name):
        raise ValueError(f"tenant name {name!r} must be 1-63 of a-z, 0-9, '-' or '_'")
    if find_tenant(session, name) is not None:
        raise ValueError(f"tenant {name!r} already exists")
    if images_per_day is not None and images_per_day < 0:
        raise ValueError("images_per_day must not be negative")
    tenant = Tenant(id=new_id("ten"), name=name, created_at=time.time(), images_per_day=images_per_day)
    session.add(tenant)
    session.flush()
    return tenant


def find_tenant(session: Session, name_or_id: str) -> Tenant | None:
    return session.scalar(select(Tenant).where((Tenant.name == name_or_id) | (Tenant.id == name_or_id)))


def tenant_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Tenant)) or 0
