"""The tenant's content policy applied to fine-tuning texts: a dataset's captions at upload, a
job's trigger word and suffix at creation. A violation is refused as a prompt would be: 400
`content_policy_violation` and a `content_policy.violation` audit record; the matched term stays
out of the message."""

from __future__ import annotations

from gesso.governance.audit_events import key_actor, record_policy_violation
from gesso.governance.authorisation import Principal
from gesso.governance.content_policy import check_texts
from gesso.governance.tenant_policy import tenant_settings
from gesso.service.app_state import ServiceState
from gesso.service.errors import ApiError


def enforce_finetune_policy(
    state: ServiceState, principal: Principal, texts: list[tuple[str, str | None]], param: str | None = None
) -> None:
    """Raise ApiError 400 `content_policy_violation` for the first of the (field, text) pairs the
    tenant's policy refuses; `param` overrides the field as the error's `param`.

    Blocking (may embed many captions): call it from a worker thread in async routes.
    """
    with state.sessions() as session:
        settings = tenant_settings(session, principal.tenant_id)
    policy = settings.content_policy()
    if not policy.blocked_terms and not policy.blocked_concepts:
        return
    embed = state.governance.embedder() if policy.blocked_concepts else None
    violation = check_texts(texts, policy, "auto", embed)
    if violation is None:
        return
    text = next((t for f, t in texts if f == violation.field), "") or ""
    record_policy_violation(
        state.governance.audit, principal.tenant_id, key_actor(principal.key_id),
        violation.audit_details(), text, settings.prompt_mode,
    )
    raise ApiError(400, violation.message, param=param or violation.field, code="content_policy_violation")
