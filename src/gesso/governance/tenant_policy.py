"""A tenant's governance settings: prompts kept or only hashed, content policy, retention, model
approval. Stored in `tenant_governance`; a tenant without a row has every default."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictStr,
    StringConstraints,
    ValidationError,
)
from sqlalchemy.orm import Session

from gesso.governance.content_policy import ContentPolicy
from gesso.store.insert_if_absent import insert_if_absent
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
    prompt_revision: bool = True  # requests that do not say go through the prompt-understanding step

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
MAX_RETENTION_DAYS = 36_500  # a hundred years; null keeps for ever


def _policy_item(value: str) -> str:
    value = value.strip()
    if not value or "\x00" in value:
        raise ValueError("an item is empty or holds a NUL")
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
    return value


PolicyItem = Annotated[
    StrictStr, StringConstraints(max_length=MAX_ITEM_CHARS), AfterValidator(_policy_item)
]
PolicyList = Annotated[list[PolicyItem], Field(max_length=MAX_LIST_ITEMS)]
Threshold = Annotated[StrictFloat, Field(gt=0, le=1, allow_inf_nan=False)]
RetentionDays = Annotated[StrictFloat, Field(gt=0, le=MAX_RETENTION_DAYS, allow_inf_nan=False)]


class SettingsChange(BaseModel):
    """The settings a tenant admin may change, each with its range (SETTING_RANGES says it in
    words); only the fields given are applied."""

    model_config = ConfigDict(extra="forbid")

    prompt_mode: Literal["store", "hash"] = "hash"
    blocked_terms: PolicyList = []
    blocked_concepts: PolicyList = []
    semantic_threshold: Threshold = 0.55
    low_semantic_threshold: Threshold = 0.70
    image_retention_days: RetentionDays | None = None
    job_retention_days: RetentionDays | None = None
    model_approval_required: StrictBool = False
    prompt_revision: StrictBool = True


_LIST_RANGE = (
    f"must be a list of at most {MAX_LIST_ITEMS} non-empty strings of at most {MAX_ITEM_CHARS}"
    " characters"
    " of valid Unicode text"
)
_DAYS_RANGE = f"must be a positive number of days up to {MAX_RETENTION_DAYS}, or null to keep"
SETTING_RANGES = {
    "prompt_mode": "must be 'store' or 'hash'",
    "blocked_terms": _LIST_RANGE,
    "blocked_concepts": _LIST_RANGE,
    "semantic_threshold": "must be a number in (0, 1]",
    "low_semantic_threshold": "must be a number in (0, 1]",
    "image_retention_days": _DAYS_RANGE,
    "job_retention_days": _DAYS_RANGE,
    "model_approval_required": "must be true or false",
    "prompt_revision": "must be true or false",
}


def _stored_days(value: float | None) -> float | None:
    """A retention period as read; a non-finite one (stored before the range was checked) reads
    as "keep", which is what an infinite period meant."""
    return value if value is None or math.isfinite(value) else None


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
        image_retention_days=_stored_days(row.image_retention_days),
        job_retention_days=_stored_days(row.job_retention_days),
        model_approval_required=row.model_approval_required,
        prompt_revision=row.prompt_revision,
    )


def checked_settings(current: TenantSettings, changes: dict[str, Any]) -> TenantSettings:
    """`current` with `changes` applied; ValueError naming the first bad field (as `param`-ready
    text `"<field>: <reason>"`). Each field's range is in `SettingsChange`."""
    unknown = sorted(set(changes) - set(SETTING_NAMES))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown setting (settings: {', '.join(SETTING_NAMES)})")
    try:
        checked = SettingsChange.model_validate(changes)
    except ValidationError as exc:
        name = str(exc.errors()[0]["loc"][0])
        raise ValueError(f"{name}: {SETTING_RANGES[name]}") from None
    given = checked.model_dump(include=checked.model_fields_set)
    for name in ("blocked_terms", "blocked_concepts"):
        if name in given:
            given[name] = list(dict.fromkeys(given[name]))
    return TenantSettings(**{**current.to_dict(), **given})


def save_tenant_settings(session: Session, tenant_id: str, settings: TenantSettings) -> None:
    """Write the settings in the caller's transaction (two first writes at once: the last wins,
    neither fails on the tenant's not-yet-existing row)."""
    values = {
        "prompt_mode": settings.prompt_mode,
        "blocked_terms_json": json.dumps(settings.blocked_terms),
        "blocked_concepts_json": json.dumps(settings.blocked_concepts),
        "semantic_threshold": settings.semantic_threshold,
        "low_semantic_threshold": settings.low_semantic_threshold,
        "image_retention_days": settings.image_retention_days,
        "job_retention_days": settings.job_retention_days,
        "model_approval_required": settings.model_approval_required,
        "prompt_revision": settings.prompt_revision,
        "updated_at": time.time(),
    }
    row = session.get(TenantGovernance, tenant_id)
    if row is None:
        if insert_if_absent(session.connection(), TenantGovernance, {"tenant_id": tenant_id, **values}, ["tenant_id"]):
            return
        row = session.get(TenantGovernance, tenant_id)  # another request made it a moment ago
    for name, value in values.items():
        setattr(row, name, value)


def update_tenant_settings(
    session: Session, tenant_id: str, changes: dict[str, Any]
) -> tuple[TenantSettings, TenantSettings]:
    """Apply `changes` in the caller's transaction; returns (before, after). ValueError if bad."""
    before = tenant_settings(session, tenant_id)
    after = checked_settings(before, changes)
    save_tenant_settings(session, tenant_id, after)
    return before, after
