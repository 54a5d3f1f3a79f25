"""The tenant's governance applied to an image request before a job is written: its content
policy (a violation is OpenAI's 400 `content_policy_violation`, the field as `param`, and an audit
record) and model approval (a pending fine-tuned model serves only its creator: 403)."""

from __future__ import annotations

from gesso.governance.authorisation import Principal
from gesso.governance.model_approval import model_usable
from gesso.governance.tenant_policy import TenantSettings, tenant_settings
from gesso.service.http.errors import ApiError
from gesso.service.policy.content_policy import enforce_content_policy
from gesso.service.runtime.app_state import ServiceState


def enforce_request_governance(
    state: ServiceState,
    principal: Principal,
    texts: list[tuple[str, str | None]],
    moderation: str | None,
    model: str,
) -> TenantSettings:
    """Raise ApiError 403 `model_not_approved` for a pending model of another key, or 400
    `content_policy_violation` for the first text the policy refuses; return the tenant's
    settings, read once for the whole request.

    `moderation` is the request's level ("auto" when None; "low" only relaxes the semantic check).
    """
    with state.sessions() as session:
        settings = tenant_settings(session, principal.tenant_id)
        usable = model_usable(session, model, principal.tenant_id, principal.key_id)
    if not usable:
        raise ApiError(
            403, f"model {model!r} is pending approval by an admin of your organisation",
            type="permission_error", param="model", code="model_not_approved",
        )
    enforce_content_policy(state, principal, texts, moderation=moderation or "auto", settings=settings)
    return settings
