"""SIGKILL the server while jobs are queued and running; after a restart every accepted job
completes exactly once, with one image set each. Also: the bounded queue answers 429."""

from __future__ import annotations

import time

from sqlalchemy import select

from gesso.store.database import database_url, open_database
from gesso.store.tables import ImageRecord, Job
from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http

JOBS = 8


def _statuses(sessions) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(select(Job.id, Job.status)).all())


def test_killed_server_finishes_every_accepted_job_exactly_once(start_server):
    crash_server = start_server(default_steps=20, max_batch_images=4, max_queued_jobs=JOBS)
    key = crash_server.admin_key()
    accepted = []
    with http(crash_server, key) as client:
        for i in range(JOBS - 2):
            response = client.post("/v1/images/generations", json={"prompt": f"shape {i}", "n": 2, "background": True})
            assert response.status_code == 202
            accepted.append(response.json()["id"])
        for i in range(2):
            response = client.post(
                "/v1/images/edits",
                files={"image": ("a.png", png_bytes(colour="blue"), "image/png")},
                data={"prompt": f"edit {i}", "background": "true"},
            )
            assert response.status_code == 202
            accepted.append(response.json()["id"])
        full = client.post("/v1/images/generations", json={"prompt": "one too many", "background": True})
    error = assert_openai_error(full, 429)
    assert error["code"] == "queue_full" and int(full.headers["retry-after"]) >= 1

    sessions = open_database(database_url(crash_server.data_dir))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = _statuses(sessions)
        if "succeeded" in statuses.values() and "running" in statuses.values():
            break
        time.sleep(0.05)
    crash_server.kill()
    at_kill = _statuses(sessions)
    assert "queued" in at_kill.values() and "running" in at_kill.values(), at_kill

    crash_server.start()
    assert not any("admin API key" in line for line in crash_server.printed_lines(start=2))  # printed once only
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and set(_statuses(sessions).values()) != {"succeeded"}:
        time.sleep(0.25)

    with sessions() as session:
        jobs = {job.id: job for job in session.scalars(select(Job))}
        images = list(session.scalars(select(ImageRecord)))
    assert sorted(jobs) == sorted(accepted)
    assert {job.status for job in jobs.values()} == {"succeeded"}
    for job_id, job in jobs.items():
        own = [image for image in images if image.job_id == job_id]
        assert sorted(image.index for image in own) == list(range(job.n)), job_id  # one set, no doubles
        interrupted = at_kill[job_id] == "running"
        assert job.attempts == (2 if interrupted else 1), (job_id, at_kill[job_id], job.attempts)
    blob_files = sorted(
        str(p.relative_to(crash_server.data_dir / "blobs"))
        for p in (crash_server.data_dir / "blobs").rglob("*")
        if p.is_file() and "/images/" in str(p)
    )
    assert blob_files == sorted(image.blob_key for image in images)  # no orphan or missing blobs
    with http(crash_server, key) as client:
        job = client.get(f"/v1/images/jobs/{accepted[-1]}").json()
    assert job["status"] == "succeeded" and job["result"]["data"][0]["b64_json"]
