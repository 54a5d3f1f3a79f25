"""Per-tenant content policy on a running server: blocked terms, a paraphrase of a blocked concept,
`moderation=low`, and what a violation leaves behind (an audit record, no job)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gesso.governance.tenants import find_tenant
from gesso.store.tables import Job
from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http, mask_bytes
from tests.service.test_governance_audit import wait_for

TENANT = "policy-a"


@pytest.fixture(scope="module")
def keys(server, make_key):
    admin = make_key(TENANT, "admin")
    with http(server, admin) as client:
        response = client.patch(
            "/v1/organization/settings",
            json={"blocked_terms": ["bomb", "blood bath"], "blocked_concepts": ["a gun"]},
        )
    assert response.status_code == 200, response.text
    assert response.json()["blocked_terms"] == ["bomb", "blood bath"]
    return {"admin": admin, "dev": make_key(TENANT, "developer"), "auditor": make_key(TENANT, "auditor")}


def job_count(sessions) -> int:
    with sessions() as session:
        tenant = find_tenant(session, TENANT)
        return session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant.id))


@pytest.mark.parametrize(
    "body, param",
    [
        ({"prompt": "a B0MB on a table"}, "prompt"),
        ({"prompt": "b o m b s everywhere"}, "prompt"),
        ({"prompt": "a bloodbath"}, "prompt"),
        ({"prompt": "a happy cat", "negative_prompt": "a bomb"}, "negative_prompt"),
        ({"prompt": "a firearm on a table"}, "prompt"),  # paraphrase of the concept "a gun"
        ({"prompt": "a bomb", "moderation": "low"}, "prompt"),  # low never lets a term through
    ],
)
def test_violations_are_400_with_no_job_and_an_audit_record(server, sessions, keys, body, param):
    before = job_count(sessions)
    with http(server, keys["dev"]) as client:
        error = assert_openai_error(client.post("/v1/images/generations", json=body), 400, param)
    assert error["code"] == "content_policy_violation"
    assert "bomb" not in error["message"] and "gun" not in error["message"]  # not probeable
    assert job_count(sessions) == before
    record = wait_for(server, keys["auditor"], "content_policy.violation", lambda r: r["target"] == param)
    assert record["details"]["rule"] in ("blocked_term", "blocked_concept")
    assert "prompt" not in record["details"]  # the tenant hashes prompts (the default)


def test_edits_are_checked_too(server, keys):
    with http(server, keys["dev"]) as client:
        response = client.post(
            "/v1/images/edits",
            files={"image": ("a.png", png_bytes(), "image/png"), "mask": ("m.png", mask_bytes(), "image/png")},
            data={"prompt": "a gun"},
        )
    assert assert_openai_error(response, 400, "prompt")["code"] == "content_policy_violation"


def test_low_moderation_relaxes_only_the_semantic_threshold(server, keys):
    borderline = {"prompt": "a water pistol toy", "n": 1}  # 0.60 to "a gun": over 0.55, under 0.70
    with http(server, keys["dev"]) as client:
        assert_openai_error(client.post("/v1/images/generations", json=borderline), 400, "prompt")
        allowed = client.post("/v1/images/generations", json={**borderline, "moderation": "low"})
        assert allowed.status_code == 200, allowed.text
        assert client.post("/v1/images/generations", json={"prompt": "a happy cat"}).status_code == 200


def test_settings_are_admin_only_and_validated(server, keys):
    with http(server, keys["dev"]) as client:
        assert_openai_error(client.get("/v1/organization/settings"), 403)
        assert_openai_error(client.patch("/v1/organization/settings", json={"blocked_terms": []}), 403)
    with http(server, keys["admin"]) as client:
        for body, param in [
            ({"blocked_terms": "bomb"}, "blocked_terms"),
            ({"semantic_threshold": 2}, "semantic_threshold"),
            ({"prompt_mode": "maybe"}, "prompt_mode"),
            ({"image_retention_days": -1}, "image_retention_days"),
            ({"colour": "red"}, "colour"),
            ({}, "body"),
        ]:
            assert_openai_error(client.patch("/v1/organization/settings", json=body), 400, param)
        settings = client.get("/v1/organization/settings").json()
    assert settings["blocked_concepts"] == ["a gun"] and settings["name"] == TENANT


def test_a_tenant_without_a_policy_is_not_affected(server, dev_key):
    with http(server, dev_key) as client:
        assert client.post("/v1/images/generations", json={"prompt": "a bomb"}).status_code == 200
