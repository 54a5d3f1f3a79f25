"""`GET /v1/models` and `GET /v1/models/{id}`: the models this key's tenant may use."""

from __future__ import annotations

from fastapi import APIRouter

from gesso.engine.model_registry import MODEL_INDEX
from gesso.service.deps import CanReadModels, State
from gesso.service.fine_tuning.model_listing import fine_tuned_model_bodies
from gesso.service.http.client_types import id_path
from gesso.service.http.errors import not_found
from gesso.service.models.schemas import ModelBody, ModelList
from gesso.service.runtime.app_state import ServiceState

router = APIRouter(prefix="/v1/models", tags=["models"])


def _model_body(state: ServiceState, name: str) -> dict:
    created = (state.settings.models_dir / name / MODEL_INDEX).stat().st_mtime
    return {"id": name, "object": "model", "created": int(created), "owned_by": "gesso"}


@router.get("", response_model=ModelList, summary="List models")
def list_models(state: State, principal: CanReadModels) -> dict:
    data = [_model_body(state, name) for name in state.model_names()]
    data += fine_tuned_model_bodies(state, principal.tenant_id)  # this tenant's only
    return {"object": "list", "data": data}


@router.get("/{model_id}", response_model=ModelBody, summary="Read one model")
def read_model(state: State, model_id: id_path(), principal: CanReadModels) -> dict:
    fine_tuned = [body for body in fine_tuned_model_bodies(state, principal.tenant_id) if body["id"] == model_id]
    if fine_tuned:  # another tenant's model reads as unknown
        return fine_tuned[0]
    if model_id not in state.model_names():
        raise not_found("model", model_id, code="model_not_found")
    return _model_body(state, model_id)
