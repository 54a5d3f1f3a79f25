"""A tenant's governance settings: prompts kept or only hashed, content policy, retention, model
approval. Stored in `tenant_governance`; a tenant without a row has every default."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from gesso.governance.content_policy import ContentPolicy
from gesso.store.tables import TenantGovernance

PROMPT_MODES = ("store", "hash")
MAX_LIST_ITEMS = 500
MAX_ITEM_CHARS = 200


@dataclass(frozen=True)
class TenantSettings:
    prompt_mode: str = "hash"  # the audit log keeps prompts ("store") or only their sha256 ("hash")
    blocked_terms: list[str] = field(default_factory=list)
    blocked_concepts: list[str] = field(default_factory=list)
    semantic_threshold: float = 0.55
    low_semantic_threshold: float = 0.70
    image_retention_days: float | None = None  # None: kept until deleted
    job_retention_days: float | None = None
    model_approval_required: bool = False

    def content_policy(self) -> ContentPolicy:
        return ContentPolicy(
            blocked_terms=tuple(self.blocked_terms),
            blocked_concepts=tuple(self.blocked_concepts),
            semantic_threshold=self.semantic_threshold,
            low_semantic_threshold=self.low_semantic_threshold,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SETTING_NAMES = tuple(TenantSettings.__dataclass_fields__)


def tenant_settings(session: Session, tenant_id: str) -> TenantSettings:
    row = session.get(TenantGovernance, tenant_id)
    if row is None:
        return TenantSettings()
    return TenantSettings(
        prompt_mode=row.prompt_mode,
        blocked_terms=json.loads(row.blocked_terms_json),
        blocked_concepts=json.loads(row.blocked_concepts_json),
        semantic_threshold=row.semantic_threshold,
        low_semantic_threshold=row.low_semantic_threshold,
        image_retention_days=row.image_retention_days,
        job_retention_days=row.job_retention_days,
        model_approval_required=row.model_approval_required,
    )


def checked_settings(current: TenantSettings, changes: dict[str, Any]) -> TenantSettings:
    """`current` with `changes` applied; ValueError naming the first bad field (as `param`-ready
    text `"<field>: <reason>"`)."""
    unknown = sorted(set(changes) - set(SETTING_NAMES))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown setting (settings: {', '.join(SETTING_NAMES)})")
    merged = {**current.to_dict(), **changes}
    if merged["prompt_mode"] not in PROMPT_MODES:
        raise ValueError("prompt_mode: must be 'store' or 'hash'")
    for name in ("blocked_terms", "blocked_concepts"):
        items = merged[name]
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise ValueError(f"{name}: must be a list of non-empty strings")
        if len(items) > MAX_LIST_ITEMS or any(len(i) > MAX_ITEM_CHARS for i in items):
            raise ValueError(f"{name}: at most {MAX_LIST_ITEMS} items of at most {MAX_ITEM_CHARS} characters")
        merged[name] = list(dict.fromkeys(i.strip() for i in items))
    for name in ("semantic_threshold", "low_semantic_threshold"):
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
            raise ValueError(f"{name}: must be a number in (0, 1]")
        merged[name] = float(value)
    for name in ("image_retention_days", "job_retention_days"):
        value = merged[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"{name}: must be a positive number of days, or null to keep")
    if not isinstance(merged["model_approval_required"], bool):
        raise ValueError("model_approval_required: must be true or false")
    return TenantSettings(**merged)


def save_tenant_settings(session: Session, tenant_id: str, settings: TenantSettings) -> None:
    """Write the settings in the caller's transaction."""
    row = session.get(TenantGovernance, tenant_id) or TenantGovernance(tenant_id=tenant_id)
    row.prompt_mode = settings.prompt_mode
    row.blocked_terms_json = json.dumps(settings.blocked_terms)
    row.blocked_concepts_json = json.dumps(settings.blocked_concepts)
    row.semantic_threshold = settings.semantic_threshold
    row.low_semantic_threshold = settings.low_semantic_threshold
    row.image_retention_days = settings.image_retention_days
    row.job_retention_days = settings.job_retention_days
    row.model_approval_required = settings.model_approval_required
    row.updated_at = time.time()
    session.add(row)


def update_tenant_settings(
    session: Session, tenant_id: str, changes: dict[str, Any]
) -> tuple[TenantSettings, TenantSettings]:
    """Apply `changes` in the caller's transaction; returns (before, after). ValueError if bad."""
    before = tenant_settings(session, tenant_id)
    after = checked_settings(before, changes)
    save_tenant_settings(session, tenant_id, after)
    return before, after
