"""`/v1/organization/...` (Gesso extension, admin only): the tenant's governance settings (prompt
mode, content policy, retention, model approval) and erasure of the whole tenant. Every change is
audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool

from gesso.governance.audit_events import key_actor, record_model_approved, record_settings_changed
from gesso.governance.authorisation import Principal
from gesso.governance.erasure import erase_tenant
from gesso.governance.model_approval import approve_model, tenant_model_approvals
from gesso.governance.roles import Action
from gesso.governance.tenant_policy import SettingsChange, tenant_settings, update_tenant_settings
from gesso.jobs.request_errors import BadRequest
from gesso.service.app_state import ServiceState, get_state
from gesso.service.auth_dependency import require
from gesso.service.client_types import NameText, id_path
from gesso.service.errors import not_found
from gesso.store.tables import Tenant

router = APIRouter(prefix="/v1/organization", tags=["organization"])
Admin = Annotated[Principal, Depends(require(Action.SETTINGS_MANAGE))]


def _settings_body(state: ServiceState, tenant_id: str) -> dict:
    with state.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        settings = tenant_settings(session, tenant_id)
    return {"object": "organization.settings", "tenant": tenant_id, "name": tenant.name, **settings.to_dict()}


@router.get("/settings", summary="Read the organisation's governance settings and content policy")
def read_settings(request: Request, principal: Admin) -> dict:
    return _settings_body(get_state(request), principal.tenant_id)


def _update(state: ServiceState, principal: Principal, changes: dict[str, Any]) -> dict:
    try:
        with state.sessions.begin() as session:
            before, after = update_tenant_settings(session, principal.tenant_id, changes)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise BadRequest(f"invalid setting {field!r}: {reason}", field) from None
    record_settings_changed(
        state.governance.audit, principal.tenant_id, key_actor(principal.key_id), before.to_dict(), after.to_dict()
    )
    return _settings_body(state, principal.tenant_id)


# the body is read as a plain object so that `update_tenant_settings` names the bad field; the
# document still shows each setting's type and range
_SETTINGS_BODY = {"requestBody": {"content": {"application/json": {"schema": SettingsChange.model_json_schema()}}}}


@router.patch(
    "/settings", summary="Change governance settings (only the fields given)", openapi_extra=_SETTINGS_BODY
)
async def change_settings(request: Request, principal: Admin, changes: Annotated[dict[str, Any], Body()]) -> dict:
    if not changes:
        raise BadRequest("give at least one setting to change", "body")
    return await run_in_threadpool(_update, get_state(request), principal, changes)


def _erase(state: ServiceState, principal: Principal, confirm: str) -> dict:
    with state.sessions() as session:
        tenant = session.get(Tenant, principal.tenant_id)
    if confirm != tenant.name:
        raise BadRequest("set `confirm` to the organisation's name to erase it and all its data", "confirm")
    report = erase_tenant(state.sessions, state.blobs, state.governance.audit, tenant.id, key_actor(principal.key_id))
    return {"object": "organization.erasure", "tenant": report.tenant_id, "rows": report.rows,
            "data_key_destroyed": report.data_key_destroyed}


@router.post("/erase", summary="Erase the organisation: its keys, jobs, images, files and data key")
async def erase(request: Request, principal: Admin, confirm: Annotated[NameText, Body(embed=True)]) -> dict:
    return await run_in_threadpool(_erase, get_state(request), principal, confirm)


@router.get("/models", summary="The organisation's fine-tuned models and their approval")
def list_model_approvals(request: Request, principal: Admin) -> dict:
    state = get_state(request)
    with state.sessions() as session:
        models = tenant_model_approvals(session, principal.tenant_id)
    return {"object": "list", "data": models}


def _approve(state: ServiceState, principal: Principal, model_id: str) -> dict:
    actor = key_actor(principal.key_id)
    with state.sessions.begin() as session:
        if not approve_model(session, principal.tenant_id, model_id, actor):
            raise not_found("model", model_id, code="model_not_found")
    record_model_approved(state.governance.audit, principal.tenant_id, actor, model_id)
    return {"id": model_id, "approval": "approved"}


@router.post("/models/{model_id}/approve", summary="Approve a fine-tuned model for every key of the organisation")
async def approve(request: Request, principal: Admin, model_id: id_path()) -> dict:
    return await run_in_threadpool(_approve, get_state(request), principal, model_id)
