"""A write-locked database: requests answer 503 with Retry-After quickly (not 500 after 30 s),
reads go on, and the job that was running when the lock came finishes once it is released
(no restart, no attempt counted)."""

from __future__ import annotations

import sqlite3
import time

from gesso.store.database import DATABASE_FILE, database_url, open_database
from tests.service.conftest import assert_openai_error, http, job_row

LOCK_SECONDS = 10.0


def test_a_locked_database_answers_503_and_the_running_job_recovers(start_server):
    lock_server = start_server(default_steps=2, database_busy_timeout_s=1, job_lease_s=3)
    key = lock_server.admin_key()
    sessions = open_database(database_url(lock_server.data_dir))
    with http(lock_server, key) as client:
        assert client.post("/v1/images/generations", json={"prompt": "warm"}).status_code == 200
        job_id = client.post("/v1/images/generations",
                             json={"prompt": "long", "n": 8, "steps": 20, "background": True}).json()["id"]
        deadline = time.monotonic() + 30
        while job_row(sessions, job_id).status == "queued" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job_row(sessions, job_id).status == "running"

        lock = sqlite3.connect(lock_server.data_dir / DATABASE_FILE, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        locked_at = time.monotonic()
        try:
            refused = client.post("/v1/images/generations", json={"prompt": "during the lock"})
            error = assert_openai_error(refused, 503)
            assert error["code"] == "database_unavailable" and int(refused.headers["retry-after"]) >= 1
            assert client.get("/v1/models").status_code == 200  # reads are not blocked
            time.sleep(max(0.0, LOCK_SECONDS - (time.monotonic() - locked_at)))
        finally:
            lock.execute("ROLLBACK")
            lock.close()

        deadline = time.monotonic() + 60
        while job_row(sessions, job_id).status not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
        job = job_row(sessions, job_id)
        assert (job.status, job.attempts) == ("succeeded", 1), (job.status, job.error_message)
        assert client.post("/v1/images/generations", json={"prompt": "after"}).status_code == 200
