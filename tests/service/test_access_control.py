"""Every route: no key 401, a viewer writing 403, another tenant's ids 404; limits answer 429."""

from __future__ import annotations

import time

import pytest

from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http

GENERATE = {"prompt": "a circle"}


def _post_write(client, route: str):
    if route == "generations":
        return client.post("/v1/images/generations", json=GENERATE)
    files = {"image": ("a.png", png_bytes(), "image/png")}
    data = {"prompt": "a circle"} if route == "edits" else {}
    return client.post(f"/v1/images/{route}", files=files, data=data)


@pytest.fixture(scope="module")
def finished_job(server, dev_key):
    """A job and its image made by tenant acme (response_format=url, so the image id is visible)."""
    with http(server, dev_key) as client:
        response = client.post("/v1/images/generations", json={**GENERATE, "response_format": "url"})
        assert response.status_code == 200
        job_id = response.headers["x-gesso-job-id"]
        image_id = response.json()["data"][0]["url"].split("/")[-2]
    return job_id, image_id


READ_ROUTES = ["/v1/models", "/v1/models/gesso-base", "/v1/images/jobs/{job}", "/v1/images/{image}/content"]


@pytest.mark.parametrize("route", ["generations", "edits", "variations"])
def test_write_without_key_is_401(server, route):
    with http(server) as client:
        error = assert_openai_error(_post_write(client, route), 401)
    assert error["code"] == "invalid_api_key"


@pytest.mark.parametrize("route", READ_ROUTES)
def test_read_without_key_is_401(server, finished_job, route):
    job_id, image_id = finished_job
    with http(server) as client:
        assert_openai_error(client.get(route.format(job=job_id, image=image_id)), 401)


@pytest.mark.parametrize("header", ["Bearer not-a-key", "Basic abc", "Bearer"])
def test_bad_key_or_header_is_401(server, header):
    with http(server) as client:
        assert_openai_error(client.get("/v1/models", headers={"Authorization": header}), 401)


def test_revoked_key_is_401(server, sessions, make_key):
    from gesso.governance.api_keys import find_active_key, revoke_api_key

    secret = make_key("acme", "developer")
    with http(server, secret) as client:
        assert client.get("/v1/models").status_code == 200
        with sessions.begin() as session:
            revoke_api_key(session, find_active_key(session, secret).id)
        assert_openai_error(client.get("/v1/models"), 401)


@pytest.mark.parametrize("route", ["generations", "edits", "variations"])
@pytest.mark.parametrize("role_key", ["viewer_key", "auditor_key"])
def test_viewer_or_auditor_write_is_403(server, request, role_key, route):
    with http(server, request.getfixturevalue(role_key)) as client:
        error = assert_openai_error(_post_write(client, route), 403)
    assert error["type"] == "permission_error"


def test_viewer_reads_what_its_tenant_made(server, viewer_key, finished_job):
    job_id, image_id = finished_job
    with http(server, viewer_key) as client:
        job = client.get(f"/v1/images/jobs/{job_id}").json()
        assert job["status"] == "succeeded" and job["result"]["data"][0]["url"]
        assert client.get(f"/v1/images/{image_id}/content").status_code == 200


def test_auditor_sees_job_records_but_not_images(server, auditor_key, finished_job):
    job_id, image_id = finished_job
    with http(server, auditor_key) as client:
        job = client.get(f"/v1/images/jobs/{job_id}").json()
        assert job["status"] == "succeeded" and job["result"] is None
        assert_openai_error(client.get(f"/v1/images/{image_id}/content"), 403)


@pytest.mark.parametrize("route", READ_ROUTES[2:])
def test_another_tenants_ids_are_404(server, other_key, finished_job, route):
    job_id, image_id = finished_job
    with http(server, other_key) as client:
        error = assert_openai_error(client.get(route.format(job=job_id, image=image_id)), 404)
    assert error["code"] == "not_found"  # the same answer as for an id that does not exist


def test_unknown_ids_are_404(server, dev_key):
    with http(server, dev_key) as client:
        assert assert_openai_error(client.get("/v1/models/gpt-image-1"), 404)["code"] == "model_not_found"
        assert_openai_error(client.get("/v1/images/jobs/job_missing"), 404)
        assert_openai_error(client.get("/v1/images/img_missing/content"), 404)


def test_key_rate_limit_answers_429_with_retry_after(server, make_key):
    secret = make_key("acme", "viewer", rate_limit_per_minute=3)
    with http(server, secret) as client:
        statuses = [client.get("/v1/models") for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    error = assert_openai_error(statuses[3], 429)
    assert error["code"] == "rate_limit_exceeded"
    assert 1 <= int(statuses[3].headers["retry-after"]) <= 20


def test_tenant_image_quota_answers_429_with_retry_after(server, make_key, sessions):
    from sqlalchemy import func, select

    from gesso.store.tables import Job, Tenant

    secret = make_key("tiny-quota", "developer", images_per_day=3)
    with http(server, secret) as client:
        assert client.post("/v1/images/generations", json={**GENERATE, "n": 2}).status_code == 200
        refused = client.post("/v1/images/generations", json={**GENERATE, "n": 2})
        assert client.post("/v1/images/generations", json={**GENERATE, "n": 1}).status_code == 200
    error = assert_openai_error(refused, 429)
    assert error["code"] == "insufficient_quota"
    retry_after = int(refused.headers["retry-after"])
    assert 24 * 3600 - 120 < retry_after <= 24 * 3600  # when the first job leaves the window
    with sessions() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == "tiny-quota"))
        assert session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id)) == 2


def test_health_endpoints_need_no_key(server):
    with http(server) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["checks"] == {"database": True, "worker": True}
        assert "gesso_http_requests_total" in client.get("/metrics").text


def test_request_id_is_echoed_and_logged(server, dev_key):
    with http(server, dev_key) as client:
        response = client.get("/v1/models", headers={"X-Request-Id": "trace-123"})
        made_up = client.get("/v1/models")
    assert response.headers["x-request-id"] == "trace-123"
    assert made_up.headers["x-request-id"].startswith("req_")
    time.sleep(0.2)
    assert '"request_id": "trace-123"' in server.log()
