"""The audit log of a running server: what is recorded, who may read it, and its filters."""

from __future__ import annotations

import time

from tests.service.conftest import assert_openai_error, http, sdk


def audit_records(server, key, **params) -> list[dict]:
    with http(server, key) as client:
        response = client.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_for(server, key, action: str, predicate=lambda r: True, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in audit_records(server, key, action=action, limit=1000) if predicate(r)]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no {action} record"
        time.sleep(0.2)


def test_generation_is_recorded_with_the_prompt_hashed_by_default(server, make_key):
    dev, auditor = make_key("audit-a", "developer"), make_key("audit-a", "auditor")
    sdk(server, dev).images.generate(prompt="a secret teal kite", n=2)
    record = wait_for(server, auditor, "image.generated")
    assert record["details"]["kind"] == "generate" and len(record["details"]["images"]) == 2
    assert "prompt" not in record["details"] and len(record["details"]["prompt_sha256"]) == 64
    assert record["actor"].startswith("key:") and record["target"].startswith("job_")
    assert set(record) == {"seq", "time", "tenant", "actor", "action", "target", "details", "prev_hash", "hash"}


def test_prompts_are_kept_when_the_tenant_says_so(server, make_key):
    admin, dev = make_key("audit-b", "admin"), make_key("audit-b", "developer")
    with http(server, admin) as client:
        assert client.patch("/v1/organization/settings", json={"prompt_mode": "store"}).status_code == 200
    sdk(server, dev).images.generate(prompt="an orange lantern")
    record = wait_for(server, admin, "image.generated")
    assert record["details"]["prompt"] == "an orange lantern"
    changed = wait_for(server, admin, "tenant.settings_changed")
    assert changed["details"]["changes"] == {"prompt_mode": {"from": "hash", "to": "store"}}


def test_foreign_ids_wrong_roles_and_bad_keys_are_recorded_as_refusals(server, make_key):
    owner, intruder = make_key("audit-c", "developer"), make_key("audit-d", "developer")
    auditor_c, auditor_d = make_key("audit-c", "auditor"), make_key("audit-d", "auditor")
    with http(server, owner) as client:
        job = client.post("/v1/images/generations", json={"prompt": "x", "background": True}).json()
    with http(server, intruder) as client:
        assert_openai_error(client.get(f"/v1/images/jobs/{job['id']}"), 404)
        assert_openai_error(client.get("/v1/audit"), 403)  # developers do not read the audit log
    refusal = wait_for(server, auditor_d, "authorisation.refused", lambda r: r["details"]["status"] == 404)
    assert refusal["target"] == f"GET /v1/images/jobs/{job['id']}"
    wait_for(server, auditor_d, "authorisation.refused", lambda r: r["details"]["status"] == 403)
    # the owner's tenant sees none of the intruder's records, and vice versa
    assert all(r["tenant"] != "audit-d" for r in audit_records(server, auditor_c, limit=1000))
    tenants = {r["tenant"] for r in audit_records(server, auditor_d, limit=1000)}
    assert len(tenants) == 1


def test_filters_and_paging(server, make_key):
    dev, auditor = make_key("audit-e", "developer"), make_key("audit-e", "auditor")
    client = sdk(server, dev)
    for _ in range(3):
        client.images.generate(prompt="a dot")
    wait_for(server, auditor, "image.generated")
    everything = audit_records(server, auditor, action="image.generated", limit=1000)
    assert len(everything) == 3
    page = audit_records(server, auditor, action="image.generated", limit=2)
    assert len(page) == 2
    rest = audit_records(server, auditor, action="image.generated", after=page[-1]["seq"])
    assert [r["seq"] for r in page + rest] == [r["seq"] for r in everything]
    assert audit_records(server, auditor, since="2999-01-01T00:00:00Z") == []
    assert len(audit_records(server, auditor, until="2999-01-01T00:00:00Z", action="image.generated")) == 3
    assert audit_records(server, auditor, until=everything[0]["time"], action="image.generated") == []
    assert len(audit_records(server, auditor, since=everything[1]["time"], action="image.generated")) == 2
    with http(server, auditor) as c:
        assert_openai_error(c.get("/v1/audit", params={"since": "yesterday"}), 400, "since")
        assert_openai_error(c.get("/v1/audit", params={"limit": 0}), 400, "limit")
        assert_openai_error(c.get("/v1/audit", params={"limit": "many"}), 400, "limit")


def test_the_served_chain_verifies(server, make_key, tmp_path):
    """What /v1/audit hands a SIEM is the chain itself: it verifies with the public key alone."""
    from gesso.governance.audit_chain import AuditRecord
    from gesso.governance.audit_signing import load_public_key
    from gesso.governance.audit_verification import verify_chain

    dev, auditor = make_key("audit-f", "developer"), make_key("audit-f", "auditor")
    sdk(server, dev).images.generate(prompt="a moon")
    wait_for(server, auditor, "image.generated")
    records = [AuditRecord.from_dict(r) for r in audit_records(server, auditor, limit=1000)]
    key = load_public_key((server.data_dir / "keys" / "audit-signing-key.pub.pem").read_bytes())
    assert verify_chain(records, [], key).ok
