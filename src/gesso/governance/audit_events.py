"""The security events Gesso records, one function each, so every writer names an event the same
way. Each takes the `AuditLog` and writes one record; none puts content (image bytes, upload
bytes, prompt text unless the tenant keeps prompts) into a record.

For the fine-tuning API: call `record_file_uploaded`, `record_file_deleted`,
`record_fine_tune_started` and `record_model_approved` from the routes that do these things.
"""

from __future__ import annotations

from typing import Any

from gesso.governance.audit_chain import prompt_detail
from gesso.governance.audit_log import AuditLog

KEY_CREATED = "api_key.created"
KEY_REVOKED = "api_key.revoked"
IMAGE_GENERATED = "image.generated"
AUTHORISATION_REFUSED = "authorisation.refused"
AUTHORISATION_REFUSED_REPEATEDLY = "authorisation.refused_repeatedly"
SETTINGS_CHANGED = "tenant.settings_changed"
TENANT_CREATED = "tenant.created"
TENANT_ERASED = "tenant.erased"
FILE_UPLOADED = "file.uploaded"
FILE_DELETED = "file.deleted"
FINE_TUNE_STARTED = "fine_tune.started"
MODEL_APPROVED = "model.approved"
CONTENT_POLICY_VIOLATION = "content_policy.violation"
EGRESS_BLOCKED = "egress.blocked"
RETENTION_SWEPT = "retention.swept"
MASTER_KEY_ROTATED = "master_key.rotated"


def key_actor(key_id: str) -> str:
    return f"key:{key_id}"


def record_key_created(audit: AuditLog, tenant_id: str, actor: str, key_id: str, role: str) -> None:
    audit.append(tenant=tenant_id, actor=actor, action=KEY_CREATED, target=key_id, details={"role": role})


def record_key_revoked(audit: AuditLog, tenant_id: str, actor: str, key_id: str) -> None:
    audit.append(tenant=tenant_id, actor=actor, action=KEY_REVOKED, target=key_id)


def record_tenant_created(audit: AuditLog, tenant_id: str, actor: str) -> None:
    audit.append(tenant=None, actor=actor, action=TENANT_CREATED, target=tenant_id)


def record_image_generated(
    audit: AuditLog,
    tenant_id: str,
    actor: str,
    job_id: str,
    *,
    kind: str,
    model: str,
    prompt: str,
    negative_prompt: str,
    prompt_mode: str,
    image_ids: list[str],
    revised_prompt: str = "",
) -> None:
    """`prompt_mode` is the tenant's setting: "store" keeps the text, "hash" only its sha256;
    `revised_prompt` (what the prompt-understanding step gave the model) is kept the same way."""
    details: dict[str, Any] = {"kind": kind, "model": model, "images": image_ids}
    details.update(prompt_detail(prompt, prompt_mode))  # type: ignore[arg-type]
    if revised_prompt:
        details.update({f"revised_{k}": v for k, v in prompt_detail(revised_prompt, prompt_mode).items()})  # type: ignore[arg-type]
    if negative_prompt:
        details.update({f"negative_{k}": v for k, v in prompt_detail(negative_prompt, prompt_mode).items()})  # type: ignore[arg-type]
    audit.append(tenant=tenant_id, actor=actor, action=IMAGE_GENERATED, target=job_id, details=details)


def record_refusal(
    audit: AuditLog,
    tenant_id: str | None,
    actor: str,
    *,
    method: str,
    path: str,
    status: int,
    code: str | None,
    source: str | None = None,
) -> None:
    """A 401, 403 or 404 answered to a request (a wrong key, a forbidden action, a foreign id)."""
    details: dict[str, Any] = {"status": status, "code": code}
    if source is not None:
        details["source"] = source
    audit.append_quietly(
        tenant=tenant_id, actor=actor, action=AUTHORISATION_REFUSED, target=f"{method} {path}", details=details
    )


def record_refusal_summary(
    audit: AuditLog,
    tenant_id: str | None,
    actor: str,
    *,
    source: str,
    status: int,
    code: str | None,
    count: int,
    seconds: float,
    paths: list[str],
) -> None:
    """`count` more refusals like one already recorded, over `seconds` (a sample of their paths)."""
    audit.append_quietly(
        tenant=tenant_id,
        actor=actor,
        action=AUTHORISATION_REFUSED_REPEATEDLY,
        target=source,
        details={"status": status, "code": code, "count": count, "seconds": round(seconds, 1), "paths": paths},
    )


def record_settings_changed(
    audit: AuditLog, tenant_id: str, actor: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Only the fields that changed, each with its old and new value."""
    changes = {name: {"from": before.get(name), "to": value} for name, value in after.items() if before.get(name) != value}
    audit.append(tenant=tenant_id, actor=actor, action=SETTINGS_CHANGED, target=tenant_id, details={"changes": changes})


def record_policy_violation(
    audit: AuditLog, tenant_id: str, actor: str, violation_details: dict[str, Any], prompt: str, prompt_mode: str
) -> None:
    details = {**violation_details, **prompt_detail(prompt, prompt_mode)}  # type: ignore[arg-type]
    audit.append_quietly(
        tenant=tenant_id, actor=actor, action=CONTENT_POLICY_VIOLATION, target=str(violation_details.get("field")),
        details=details,
    )


def record_file_uploaded(
    audit: AuditLog, tenant_id: str, actor: str, file_id: str, *, purpose: str, size_bytes: int, sha256: str
) -> None:
    audit.append(
        tenant=tenant_id, actor=actor, action=FILE_UPLOADED, target=file_id,
        details={"purpose": purpose, "bytes": size_bytes, "sha256": sha256},
    )


def record_file_deleted(audit: AuditLog, tenant_id: str, actor: str, file_id: str, derived: list[str] | None = None) -> None:
    """`derived`: ids of what was removed with the file (fine-tunes, adapters)."""
    audit.append(tenant=tenant_id, actor=actor, action=FILE_DELETED, target=file_id, details={"derived": derived or []})


def record_fine_tune_started(
    audit: AuditLog, tenant_id: str, actor: str, fine_tune_id: str, *, base_model: str, training_file: str
) -> None:
    audit.append(
        tenant=tenant_id, actor=actor, action=FINE_TUNE_STARTED, target=fine_tune_id,
        details={"base_model": base_model, "training_file": training_file},
    )


def record_model_approved(audit: AuditLog, tenant_id: str, actor: str, model_id: str) -> None:
    audit.append(tenant=tenant_id, actor=actor, action=MODEL_APPROVED, target=model_id)
