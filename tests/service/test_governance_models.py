"""Model approval: where a tenant requires it, a fine-tuned model serves only its creator until an
admin approves it; approving is admin-only and audited."""

from __future__ import annotations

import time

from gesso.governance.api_keys import find_active_key
from gesso.governance.model_approval import model_usable
from gesso.governance.tenants import find_tenant
from gesso.store.tables import FineTunedModel
from tests.service.conftest import assert_openai_error, http
from tests.service.test_governance_audit import wait_for


def add_fine_tuned_model(sessions, tenant: str, creator_secret: str, suffix: str) -> tuple[str, str, str]:
    with sessions.begin() as session:
        tenant_id = find_tenant(session, tenant).id
        creator = find_active_key(session, creator_secret).id
        model_id = f"ft:gesso-base:{tenant}:{suffix}:ftjob_{suffix}"
        session.add(FineTunedModel(
            id=model_id, tenant_id=tenant_id, job_id=f"ftjob_{suffix}", base_model="gesso-base",
            training_file="file_x", dataset_sha256="0" * 64, hyperparameters_json="{}", created_by=creator,
            adapter_blob_prefix=f"{tenant_id}/adapters/{suffix}", adapter_dir="", created_at=time.time(),
        ))
    return model_id, tenant_id, creator


def test_pending_model_serves_only_its_creator_until_approved(server, sessions, make_key):
    admin, creator, colleague = (make_key("approve-a", role) for role in ("admin", "developer", "developer"))
    model_id, tenant_id, creator_id = add_fine_tuned_model(sessions, "approve-a", creator, "logo")
    with sessions() as session:
        colleague_id = find_active_key(session, colleague).id
        assert model_usable(session, model_id, tenant_id, colleague_id)  # approval not required yet
    with http(server, admin) as client:
        assert client.patch("/v1/organization/settings", json={"model_approval_required": True}).status_code == 200
        listed = client.get("/v1/organization/models").json()["data"]
    assert listed == [{"id": model_id, "created_by": creator_id, "approval": "pending"}]
    with sessions() as session:
        assert model_usable(session, model_id, tenant_id, creator_id)
        assert not model_usable(session, model_id, tenant_id, colleague_id)
        assert model_usable(session, "gesso-base", tenant_id, colleague_id)

    with http(server, colleague) as client:
        assert_openai_error(client.post(f"/v1/organization/models/{model_id}/approve"), 403)
    with http(server, admin) as client:
        assert_openai_error(client.post("/v1/organization/models/ft:nothing/approve"), 404)
        approved = client.post(f"/v1/organization/models/{model_id}/approve")
        assert approved.json() == {"id": model_id, "approval": "approved"}
    with sessions() as session:
        assert model_usable(session, model_id, tenant_id, colleague_id)
    record = wait_for(server, admin, "model.approved")
    assert record["target"] == model_id


def test_another_tenants_admin_cannot_approve(server, sessions, make_key):
    creator = make_key("approve-b", "developer")
    model_id, _, _ = add_fine_tuned_model(sessions, "approve-b", creator, "mark")
    with http(server, make_key("approve-c", "admin")) as client:
        assert_openai_error(client.post(f"/v1/organization/models/{model_id}/approve"), 404)
