"""A tenant's fine-tuned models as `/v1/models` entries (with their lineage), for that tenant only."""

from __future__ import annotations

from gesso.service.fine_tuning.bodies import model_body
from gesso.service.runtime.app_state import ServiceState
from gesso.store.finetune_records import tenant_models
from gesso.store.tables import Tenant


def fine_tuned_model_bodies(state: ServiceState, tenant_id: str) -> list[dict]:
    with state.sessions() as session:
        models = tenant_models(session, tenant_id)
        owner = session.get(Tenant, tenant_id).name if models else ""
    return [model_body(model, owner) for model in models]
