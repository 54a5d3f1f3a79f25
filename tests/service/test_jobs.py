"""Jobs: background=true and polling, Idempotency-Key, metrics of the work done."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from gesso.store.tables import Job
from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http


def poll(client, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/images/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_background_job_is_queued_then_polled(server, dev_key):
    with http(server, dev_key) as client:
        accepted = client.post("/v1/images/generations", json={"prompt": "a circle", "n": 2, "background": True})
        assert accepted.status_code == 202
        job = accepted.json()
        assert job["object"] == "image.job" and job["status"] in ("queued", "running", "succeeded")
        done = poll(client, job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert len(done["result"]["data"]) == 2 and done["result"]["data"][0]["b64_json"]


def test_background_edit_job(server, dev_key):
    with http(server, dev_key) as client:
        accepted = client.post(
            "/v1/images/edits",
            files={"image": ("a.png", png_bytes(), "image/png")},
            data={"prompt": "a circle", "background": "true", "response_format": "url"},
        )
        assert accepted.status_code == 202
        done = poll(client, accepted.json()["id"])
    assert done["kind"] == "edit" and done["result"]["data"][0]["url"].startswith(server.url)


def test_idempotency_key_makes_retries_safe(server, sessions, make_key):
    key = make_key("idem", "developer")
    body = {"prompt": "a circle", "n": 2}
    headers = {"Idempotency-Key": "order-42"}
    with http(server, key) as client:
        first = client.post("/v1/images/generations", json=body, headers=headers)
        retry = client.post("/v1/images/generations", json=body, headers=headers)
        changed = client.post("/v1/images/generations", json={**body, "n": 1}, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert first.headers["x-gesso-job-id"] == retry.headers["x-gesso-job-id"]
    assert first.json()["data"] == retry.json()["data"]
    assert_openai_error(changed, 409, "Idempotency-Key")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.idempotency_key == "order-42")) == 1


def test_idempotency_keys_are_per_tenant(server, make_key):
    body = {"prompt": "a circle", "background": True}
    headers = {"Idempotency-Key": "shared-key"}
    with http(server, make_key("idem-a", "developer")) as a, http(server, make_key("idem-b", "developer")) as b:
        job_a = a.post("/v1/images/generations", json=body, headers=headers).json()["id"]
        job_b = b.post("/v1/images/generations", json=body, headers=headers).json()["id"]
    assert job_a != job_b


def test_concurrent_compatible_requests_are_batched(server, make_key):
    """Background jobs queued together run as shared pipeline calls (batch size histogram > 1)."""
    key = make_key("batching", "developer")
    with http(server, key) as client:
        before = _shared_calls(client)
        ids = [
            client.post("/v1/images/generations", json={"prompt": f"shape {i}", "steps": 30, "background": True}).json()["id"]
            for i in range(6)
        ]
        for job_id in ids:
            assert poll(client, job_id)["status"] == "succeeded"
        assert _shared_calls(client) > before  # some pipeline call made more than one image


def _shared_calls(client) -> float:
    """Pipeline calls that made more than one image so far."""
    return _metric(client, "gesso_batch_size_images_count") - _metric(
        client, 'gesso_batch_size_images_bucket{le="1.0"}'
    )


def _metric(client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} missing")


def test_openapi_document_describes_the_api(server):
    with http(server) as client:
        paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/images/generations", "/v1/images/edits", "/v1/images/variations", "/v1/models",
        "/v1/models/{model_id}", "/v1/images/jobs/{job_id}", "/v1/images/{image_id}/content",
        "/healthz", "/readyz", "/metrics",
    ):
        assert path in paths
    assert "multipart/form-data" in paths["/v1/images/edits"]["post"]["requestBody"]["content"]
