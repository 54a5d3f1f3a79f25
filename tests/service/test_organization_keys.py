"""`/v1/organization/api_keys` on a running server: an admin creates, lists and revokes its own
organisation's keys; the secret is shown once; other roles and other tenants are refused."""

from __future__ import annotations

import pytest

from tests.service.conftest import assert_openai_error, http

KEYS = "/v1/organization/api_keys"


def key_id_of(server, secret: str) -> str:
    with http(server, secret) as client:
        response = client.get("/v1/me")
    assert response.status_code == 200, response.text
    return response.json()["key"]["id"]


def audit_of(server, key: str, action: str) -> list[dict]:
    with http(server, key) as client:
        response = client.get("/v1/audit", params={"action": action, "limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_create_list_use_and_revoke_a_key(server, make_key):
    admin = make_key("keys-a", "admin")
    with http(server, admin) as client:
        created = client.post(KEYS, json={"name": "ci runner", "role": "developer", "rate_limit_per_minute": 30})
        assert created.status_code == 200, created.text
        key = created.json()
        secret = key["value"]
        assert secret.startswith("gesso-sk-") and secret.startswith(key["prefix"])
        assert (key["name"], key["role"], key["rate_limit_per_minute"], key["revoked_at"]) == ("ci runner", "developer", 30, None)

        listing = client.get(KEYS)
        assert listing.status_code == 200
        listed = {row["id"]: row for row in listing.json()["data"]}
        assert listed[key["id"]]["prefix"] == key["prefix"]
        # shown once: no later answer carries the secret or its hash
        assert secret not in listing.text and "value" not in listed[key["id"]]
        assert not any("secret" in name or "sha256" in name for row in listed.values() for name in row)

    with http(server, secret) as client:
        assert client.get("/v1/models").status_code == 200
        assert client.get("/v1/me").json()["role"] == "developer"

    with http(server, admin) as client:
        revoked = client.post(f"{KEYS}/{key['id']}/revoke")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None
        again = client.post(f"{KEYS}/{key['id']}/revoke")  # already revoked: same answer, no new record
        assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
        assert [row["revoked_at"] for row in client.get(KEYS).json()["data"] if row["id"] == key["id"]] == [
            revoked.json()["revoked_at"]
        ]

    with http(server, secret) as client:
        assert_openai_error(client.get("/v1/models"), 401)

    admin_id = key_id_of(server, admin)
    (created_record,) = [r for r in audit_of(server, admin, "api_key.created") if r["target"] == key["id"]]
    assert created_record["actor"] == f"key:{admin_id}" and created_record["details"] == {"role": "developer"}
    assert secret not in str(created_record)
    revoked_records = [r for r in audit_of(server, admin, "api_key.revoked") if r["target"] == key["id"]]
    assert len(revoked_records) == 1 and revoked_records[0]["actor"] == f"key:{admin_id}"


def test_delete_revokes_like_openais_admin_api(server, make_key):
    admin, victim = make_key("keys-b", "admin"), make_key("keys-b", "viewer")
    victim_id = key_id_of(server, victim)
    with http(server, admin) as client:
        response = client.delete(f"{KEYS}/{victim_id}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == victim_id and response.json()["revoked_at"] is not None
    with http(server, victim) as client:
        assert_openai_error(client.get("/v1/me"), 401)


@pytest.mark.parametrize("role", ["developer", "viewer", "auditor"])
def test_only_admins_manage_keys(server, make_key, role):
    key, target = make_key("keys-c", role), make_key("keys-c", "viewer")
    target_id = key_id_of(server, target)
    with http(server, key) as client:
        assert_openai_error(client.get(KEYS), 403)
        assert_openai_error(client.post(KEYS, json={"name": "mine", "role": "admin"}), 403)
        assert_openai_error(client.post(f"{KEYS}/{target_id}/revoke"), 403)
        assert_openai_error(client.delete(f"{KEYS}/{target_id}"), 403)
        assert_openai_error(client.get("/v1/organization/usage"), 403)
    with http(server, target) as client:
        assert client.get("/v1/me").status_code == 200  # still active


def test_another_tenants_key_is_not_found_and_not_listed(server, make_key):
    admin, foreign = make_key("keys-d", "admin"), make_key("keys-e", "developer")
    foreign_id = key_id_of(server, foreign)
    with http(server, admin) as client:
        assert_openai_error(client.post(f"{KEYS}/{foreign_id}/revoke"), 404)
        assert_openai_error(client.delete(f"{KEYS}/{foreign_id}"), 404)
        assert_openai_error(client.post(f"{KEYS}/key_doesnotexist/revoke"), 404)
        assert foreign_id not in client.get(KEYS).text
    with http(server, foreign) as client:
        assert client.get("/v1/me").status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x", "role": "superuser"}, "role"),
        ({"name": "", "role": "developer"}, "name"),
        ({"name": "   ", "role": "developer"}, "name"),
        ({"name": "n" * 101, "role": "developer"}, "name"),
        ({"role": "developer"}, "name"),
        ({"name": "x", "role": "developer", "rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"name": "x", "role": "developer", "rate_limit_per_minute": 1_000_000}, "rate_limit_per_minute"),
        ({"name": "x", "role": "developer", "rate_limit_per_minute": "many"}, "rate_limit_per_minute"),
        ({"name": "x", "role": "developer", "tenant": "keys-e"}, "tenant"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(server, make_key, body, param):
    admin = make_key("keys-f", "admin")
    with http(server, admin) as client:
        before = client.get(KEYS).json()["data"]
        assert_openai_error(client.post(KEYS, json=body), 400, param)
        assert client.get(KEYS).json()["data"] == before


def test_the_last_admin_key_cannot_revoke_itself(server, make_key):
    admin = make_key("keys-g", "admin")
    admin_id = key_id_of(server, admin)
    with http(server, admin) as client:
        error = assert_openai_error(client.post(f"{KEYS}/{admin_id}/revoke"), 409)
        assert error["code"] == "last_admin_key"
        second = client.post(KEYS, json={"name": "second admin", "role": "admin"}).json()
        assert client.post(f"{KEYS}/{admin_id}/revoke").status_code == 200
        assert_openai_error(client.get(KEYS), 401)  # the key revoked itself
    with http(server, second["value"]) as client:
        # the remaining admin is now the last one
        assert_openai_error(client.delete(f"{KEYS}/{second['id']}"), 409)
        assert client.get(KEYS).status_code == 200
