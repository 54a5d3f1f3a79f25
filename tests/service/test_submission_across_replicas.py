"""Two replicas accept requests of one tenant at the same moment on PostgreSQL: the quota is counted
one submission at a time, and a concurrent duplicate of an idempotent request answers the first
job. The first submission is held inside its transaction until the second is seen waiting."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

from gesso.governance.access_errors import QuotaExceeded
from gesso.governance.authorisation import Principal
from gesso.governance.roles import Role
from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.service.images import job_submission
from gesso.service.images.image_requests import ImageRequest
from gesso.service.runtime.expected_wait import ExpectedWait
from gesso.settings import Settings
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import open_database


@pytest.fixture()
def replicas(postgres_url: str, tmp_path):
    """Two replicas' views of one database: each its own engine (its own connections)."""
    def replica():
        return SimpleNamespace(
            sessions=open_database(postgres_url), blobs=LocalBlobStore(tmp_path / "blobs"),
            settings=Settings(data_dir=tmp_path, max_expected_wait_s=0), expected_wait=ExpectedWait(),
        )

    first, second = replica(), replica()
    with first.sessions.begin() as session:
        tenant_id = create_tenant(session, "acme", images_per_day=1).id
    return first, second, Principal("key_1", tenant_id, Role.DEVELOPER), postgres_url


def waiting_on_a_lock(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return bool(connection.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )))
    finally:
        engine.dispose()


def submit_both(replicas, monkeypatch, idempotency_key: str | None) -> tuple[object, object]:  # noqa: ANN001
    first, second, principal, url = replicas
    inside, release = threading.Event(), threading.Event()
    add_job = job_submission.add_job

    def held_add_job(session, job, max_waiting):  # noqa: ANN001
        if job.id == "job_first":  # the first submission stops after its checks, before commit
            inside.set()
            release.wait(30)
        return add_job(session, job, max_waiting)

    monkeypatch.setattr(job_submission, "add_job", held_add_job)
    request = ImageRequest(GenerationRequest(prompt="p", model="m"), "b64_json", "auto", False, True, None)
    results: dict[str, object] = {}

    def submit(state, job_id: str) -> None:  # noqa: ANN001
        try:
            results[job_id] = job_submission.submit_job(
                state, principal, request, job_id=job_id, fingerprint="same", idempotency_key=idempotency_key,
                request_id="r", uploads={},
            )
        except Exception as error:  # noqa: BLE001 - the outcome under test
            results[job_id] = error

    threads = [threading.Thread(target=submit, args=(first, "job_first"))]
    threads[0].start()
    assert inside.wait(30)
    threads.append(threading.Thread(target=submit, args=(second, "job_second")))
    threads[1].start()
    seen_waiting = False
    for _ in range(300):  # the second replica's submission must wait for the first to commit
        if waiting_on_a_lock(url) or "job_second" in results:
            seen_waiting = "job_second" not in results
            break
        threads[1].join(0.1)
    release.set()
    for thread in threads:
        thread.join(30)
    assert seen_waiting, f"the second submission did not wait: {results.get('job_second')!r}"
    return results["job_first"], results["job_second"]


def test_the_quota_is_counted_one_submission_at_a_time(replicas, monkeypatch):
    first, second = submit_both(replicas, monkeypatch, idempotency_key=None)
    assert first.id == "job_first"
    assert isinstance(second, QuotaExceeded)  # 1 image a day: the second sees the first's job


def test_a_concurrent_duplicate_answers_the_first_job(replicas, monkeypatch):
    first, second = submit_both(replicas, monkeypatch, idempotency_key="retry-1")
    assert first.id == "job_first" and second.id == "job_first"
