"""Model approval: where a tenant requires it, a fine-tuned model is `pending` until an admin
approves it; a pending model can be tried by the key that created it and by no other key."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from gesso.governance.tenant_policy import tenant_settings
from gesso.store.tables import FineTunedModel, ModelApproval


def approval_status(session: Session, model_id: str) -> str:
    """"approved" or "pending"."""
    row = session.get(ModelApproval, model_id)
    return "approved" if row is not None and row.status == "approved" else "pending"


def model_usable(session: Session, model_id: str, tenant_id: str, key_id: str) -> bool:
    """Whether this key may generate with `model_id` (base models are always usable)."""
    model = session.get(FineTunedModel, model_id)
    if model is None or model.tenant_id != tenant_id:
        return True  # not a fine-tuned model of this tenant: the model check elsewhere decides
    if not tenant_settings(session, tenant_id).model_approval_required:
        return True
    return model.created_by == key_id or approval_status(session, model_id) == "approved"


def approve_model(session: Session, tenant_id: str, model_id: str, actor: str) -> bool:
    """Approve in the caller's transaction; False when the tenant has no such fine-tuned model."""
    model = session.get(FineTunedModel, model_id)
    if model is None or model.tenant_id != tenant_id:
        return False
    row = session.get(ModelApproval, model_id) or ModelApproval(model_id=model_id, tenant_id=tenant_id)
    row.status, row.decided_by, row.decided_at = "approved", actor, time.time()
    session.add(row)
    return True


def tenant_model_approvals(session: Session, tenant_id: str) -> list[dict]:
    models = session.scalars(select(FineTunedModel).where(FineTunedModel.tenant_id == tenant_id)).all()
    return [
        {"id": m.id, "created_by": m.created_by, "approval": approval_status(session, m.id)} for m in models
    ]
