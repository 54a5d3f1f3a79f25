"""A tenant's content policy applied to the texts of a request: prompts of image requests,
a dataset's captions at upload, a fine-tune's trigger word and suffix at creation. A violation is
400 `content_policy_violation` with the field as `param`, and a `content_policy.violation` audit
record; the matched term stays out of the message."""

from __future__ import annotations

from gesso.governance.audit_events import key_actor, record_policy_violation
from gesso.governance.authorisation import Principal
from gesso.governance.content_policy import check_texts
from gesso.governance.tenant_policy import TenantSettings, tenant_settings
from gesso.service.http.errors import ApiError
from gesso.service.runtime.app_state import ServiceState


def enforce_content_policy(
    state: ServiceState,
    principal: Principal,
    texts: list[tuple[str, str | None]],
    *,
    moderation: str = "auto",
    param: str | None = None,
    settings: TenantSettings | None = None,
) -> None:
    """Raise ApiError 400 `content_policy_violation` for the first of the (field, text) pairs the
    tenant's policy refuses. `moderation` "low" only relaxes the semantic check; `param` overrides
    the field as the error's `param`; `settings`: the tenant's, when the caller has read them.

    Blocking (may embed many captions): call it from a worker thread in async routes.
    """
    if settings is None:
        with state.sessions() as session:
            settings = tenant_settings(session, principal.tenant_id)
    policy = settings.content_policy()
    if not policy.blocked_terms and not policy.blocked_concepts:
        return
    embed = state.governance.embedder() if policy.blocked_concepts else None
    violation = check_texts(texts, policy, "low" if moderation == "low" else "auto", embed)
    if violation is None:
        return
    text = next((t for f, t in texts if f == violation.field), "") or ""
    record_policy_violation(
        state.governance.audit, principal.tenant_id, key_actor(principal.key_id),
        violation.audit_details(), text, settings.prompt_mode,
    )
    raise ApiError(400, violation.message, param=param or violation.field, code="content_policy_violation")
