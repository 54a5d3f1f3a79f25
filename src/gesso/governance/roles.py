"""Roles and what each may do; the only table of permissions in Gesso."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"
    AUDITOR = "auditor"


class Action(StrEnum):
    IMAGES_CREATE = "images:create"  # generations, edits, variations
    IMAGES_READ = "images:read"  # image content
    JOBS_READ = "jobs:read"  # job status and metadata
    MODELS_READ = "models:read"
    KEYS_MANAGE = "keys:manage"
    AUDIT_READ = "audit:read"
    SETTINGS_MANAGE = "settings:manage"  # tenant governance settings, erasure, model approval (admin)
    PROVENANCE_VERIFY = "provenance:verify"


_READ = {Action.IMAGES_READ, Action.JOBS_READ, Action.MODELS_READ, Action.PROVENANCE_VERIFY}

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.DEVELOPER: frozenset(_READ | {Action.IMAGES_CREATE}),
    Role.VIEWER: frozenset(_READ),
    # auditors read records, not pictures
    Role.AUDITOR: frozenset({Action.JOBS_READ, Action.MODELS_READ, Action.AUDIT_READ, Action.PROVENANCE_VERIFY}),
}


def parse_role(text: str) -> Role:
    """'developer' -> Role.DEVELOPER; ValueError naming the known roles otherwise."""
    try:
        return Role(text)
    except ValueError:
        raise ValueError(f"unknown role {text!r} (roles: {', '.join(r.value for r in Role)})") from None


def role_allows(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]
