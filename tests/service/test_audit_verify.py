"""`GET /v1/audit/verify`: the tenant's chain verifies intact, and a row edited straight in the
database is named by its seq."""

from __future__ import annotations

import json

from sqlalchemy import select

from gesso.store.tables import AuditRecordRow, Tenant
from tests.service.conftest import assert_openai_error, http

VERIFY = "/v1/audit/verify"


def verify(server, key: str) -> dict:
    with http(server, key) as client:
        response = client.get(VERIFY)
    assert response.status_code == 200, response.text
    return response.json()


def test_intact_chain_then_an_edited_row_is_named(server, make_key, sessions):
    admin, auditor = make_key("verify-a", "admin"), make_key("verify-a", "auditor")
    with http(server, admin) as client:
        for name in ("one", "two", "three"):
            assert client.post("/v1/organization/api_keys", json={"name": name, "role": "viewer"}).status_code == 200
        records = client.get("/v1/audit", params={"limit": 1000}).json()["data"]

    report = verify(server, auditor)
    assert report["intact"] is True and report["problems"] == []
    assert report["records"] == len(records) >= 3
    assert verify(server, admin)["intact"] is True

    with sessions() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == "verify-a"))
    target = records[1]
    with sessions.begin() as session:
        row = session.scalars(
            select(AuditRecordRow).where(AuditRecordRow.chain == tenant_id, AuditRecordRow.seq == target["seq"])
        ).one()
        original = row.details_json
        row.details_json = json.dumps({"role": "admin"})  # someone rewrites history
    try:
        report = verify(server, auditor)
        assert report["intact"] is False
        assert {"seq": target["seq"], "position": 1, "problem": "altered"} in [
            {name: problem[name] for name in ("seq", "position", "problem")} for problem in report["problems"]
        ]
    finally:
        with sessions.begin() as session:
            session.scalars(
                select(AuditRecordRow).where(AuditRecordRow.chain == tenant_id, AuditRecordRow.seq == target["seq"])
            ).one().details_json = original
    assert verify(server, auditor)["intact"] is True


def test_other_roles_may_not_verify_and_chains_stay_apart(server, make_key):
    with http(server, make_key("verify-b", "developer")) as client:
        assert_openai_error(client.get(VERIFY), 403)
    with http(server, make_key("verify-b", "viewer")) as client:
        assert_openai_error(client.get(VERIFY), 403)
    # a tenant with no record of its own yet verifies as an empty, intact chain
    assert verify(server, make_key("verify-c", "auditor")) == {
        "object": "audit.verification", "intact": True, "records": 0, "checkpoints": 0,
        "last_signed_seq": None, "problems": [],
    }
