"""Retention: images past `image_retention_days` and jobs past `job_retention_days` are deleted
(rows and sealed blobs) by the sweep, with an audit record; the server runs the sweep on a timer."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, update

from gesso.cli import app
from gesso.governance.retention import DAY_S, RetentionSweeper
from gesso.governance.tenants import find_tenant
from gesso.store.tables import AuditRecordRow, ImageRecord, Job
from tests.service.conftest import assert_openai_error, http
from tests.service.test_governance_encryption import cli_on_server  # noqa: F401


def test_sweep_deletes_old_images_then_old_jobs(server, sessions, make_key, cli_on_server):  # noqa: F811
    admin, dev = make_key("keep-short", "admin"), make_key("keep-short", "developer")
    with http(server, admin) as client:
        changed = client.patch("/v1/organization/settings", json={"image_retention_days": 1, "job_retention_days": 2})
        assert changed.status_code == 200
    jobs = []
    with http(server, dev) as client:
        for age_days in (0.5, 1.5, 3):
            body = client.post("/v1/images/generations", json={"prompt": "a fig", "background": True}).json()
            jobs.append((body["id"], age_days))
        deadline = time.monotonic() + 60
        while any(client.get(f"/v1/images/jobs/{j}").json()["status"] != "succeeded" for j, _ in jobs):
            assert time.monotonic() < deadline
            time.sleep(0.3)
    now = time.time()
    with sessions.begin() as session:
        tenant_id = find_tenant(session, "keep-short").id
        for job_id, age in jobs:  # backdate, as if the jobs had been made days ago
            session.execute(update(Job).where(Job.id == job_id).values(created_at=now - age * DAY_S))
            session.execute(update(ImageRecord).where(ImageRecord.job_id == job_id).values(created_at=now - age * DAY_S))
    blob_dirs = {j: server.data_dir / "blobs" / tenant_id / "images" / j for j, _ in jobs}
    assert all(d.is_dir() for d in blob_dirs.values())

    result = cli_on_server.invoke(app, ["retention", "sweep"])
    assert result.exit_code == 0, result.output
    assert "deleted 2 image(s) and 1 job(s)" in result.output
    (fresh, _), (old_image, _), (old_job, _) = jobs
    with sessions() as session:
        remaining = {j for j in session.scalars(select(Job.id).where(Job.tenant_id == tenant_id))}
        assert remaining == {fresh, old_image}
        assert session.scalars(select(ImageRecord.job_id).where(ImageRecord.tenant_id == tenant_id)).all() == [fresh]
        record = session.scalars(select(AuditRecordRow).where(
            AuditRecordRow.chain == tenant_id, AuditRecordRow.action == "retention.swept")).one()
        assert old_job in record.details_json
    assert blob_dirs[fresh].is_dir() and not any(blob_dirs[old_image].iterdir()) and not blob_dirs[old_job].exists()
    with http(server, dev) as client:
        assert_openai_error(client.get(f"/v1/images/jobs/{old_job}"), 404)
        assert client.get(f"/v1/images/jobs/{old_image}").json()["result"]["data"] == []


def test_sweeper_runs_on_a_timer_and_survives_a_failed_sweep():
    calls = []
    done = threading.Event()

    def sweep():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        if len(calls) >= 3:
            done.set()

    sweeper = RetentionSweeper(sweep, every_s=0.05)
    sweeper.start()
    assert done.wait(5)
    sweeper.stop()
    assert len(calls) >= 3
