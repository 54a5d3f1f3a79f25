"""Fine-tune leases, on SQLite and on PostgreSQL: a leased job is no other worker's until its lease
lapses; then any worker takes it (counted as an interruption, unless the lapsed lease was its
own); a worker that lost its job can write nothing more of it; the restart fast path is only for
the database's only worker; and the fair share across tenants holds with two workers claiming."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, update

from gesso.jobs.fine_tunes import FineTuneLeaseLost
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import database_url, open_database
from gesso.store.finetune_checkpoint_blobs import checkpoints_prefix
from gesso.store.tables import FineTuneEvent, FineTuningJobRecord
from gesso.train.lora_loop import FinetuneResult, TrainingEvent
from tests.store.finetune_jobs import add_job, add_training_file, job_row, make_queue, tenant_id


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = database_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return open_database(url)


@pytest.fixture()
def blobs(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture()
def workers(sessions, blobs, tmp_path):
    """Two workers' queues (max_attempts 2), each with its own disk."""
    return [make_queue(sessions, blobs, tmp_path / "models", f"w{n}", tmp_path / f"disk-{n}", max_attempts=2)
            for n in (1, 2)]


@pytest.fixture()
def acme_file(sessions, blobs, tmp_path):
    acme = tenant_id(sessions, "acme")
    return acme, add_training_file(sessions, blobs, acme, tmp_path / "data")


def lapse(sessions, job_id: str) -> None:
    with sessions.begin() as session:
        session.execute(update(FineTuningJobRecord).where(FineTuningJobRecord.id == job_id)
                        .values(lease_expires_at=time.time() - 1))


def messages(sessions, job_id: str) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(FineTuneEvent.message).where(FineTuneEvent.job_id == job_id)
                                    .order_by(FineTuneEvent.seq)))


def test_a_leased_fine_tune_moves_to_another_worker_only_once_its_lease_lapses(sessions, blobs, workers,
                                                                                acme_file, tmp_path):
    first, second = workers
    job_id = add_job(sessions, *acme_file, tmp_path)
    claimed = first.claim_next()
    assert claimed.id == job_id and claimed.config.out_dir == str(tmp_path / "disk-1" / acme_file[0] / job_id)
    assert second.claim_next() is None
    assert first.renew(job_id) and not second.renew(job_id)
    held = job_row(sessions, job_id)
    assert (held.status, held.lease_owner, held.attempts) == ("running", "w1", 0)

    lapse(sessions, job_id)  # w1 stopped renewing: it died, or cannot reach the database
    taken = second.claim_next()
    assert taken.id == job_id and taken.config.out_dir.startswith(str(tmp_path / "disk-2"))
    now = job_row(sessions, job_id)
    assert (now.status, now.lease_owner, now.attempts) == ("running", "w2", 1)
    assert any(m.startswith("The worker running the job stopped") for m in messages(sessions, job_id))

    # the old holder, alive after all, can write nothing more of the job
    assert not first.renew(job_id)
    with pytest.raises(FineTuneLeaseLost):
        first.record(job_id, TrainingEvent("metrics", 3, 8, "Step 3/8", loss=0.5))
    with pytest.raises(FineTuneLeaseLost):
        first.finish(job_id, FinetuneResult("succeeded", 8, 8, tmp_path / "none", []))
    first.release(job_id)
    first.fail(job_id, "training_failed", "boom")
    first.finish(job_id, FinetuneResult("paused", 3, 8, None, []))
    after = job_row(sessions, job_id)
    assert (after.status, after.lease_owner, after.step) == ("running", "w2", 0)
    second.record(job_id, TrainingEvent("metrics", 3, 8, "Step 3/8", loss=0.5))
    assert job_row(sessions, job_id).step == 3


def test_own_lapsed_lease_is_free_and_the_last_interruption_fails_the_job(sessions, blobs, workers, acme_file,
                                                                          tmp_path):
    first, second = workers
    job_id = add_job(sessions, *acme_file, tmp_path)
    first.claim_next()
    lapse(sessions, job_id)
    assert first.claim_next().id == job_id  # its own worker gave it up while alive: not a crash
    assert job_row(sessions, job_id).attempts == 0
    lapse(sessions, job_id)
    assert second.claim_next().id == job_id
    assert job_row(sessions, job_id).attempts == 1
    blobs.put(f"{checkpoints_prefix(acme_file[0], job_id)}/step-0000004/meta.json", b"{}")
    lapse(sessions, job_id)
    assert first.claim_next() is None  # interrupted twice with max_attempts 2: failed, not run again
    failed = job_row(sessions, job_id)
    assert (failed.status, failed.error_code, failed.lease_owner) == ("failed", "job_interrupted", None)
    assert list(blobs.keys(checkpoints_prefix(acme_file[0], job_id))) == []


def test_the_restart_fast_path_is_only_for_the_only_worker(sessions, workers, acme_file, tmp_path):
    first, second = workers
    job_id = add_job(sessions, *acme_file, tmp_path)
    first.claim_next()
    assert second.requeue_interrupted() == 0  # w1's lease holds: a live worker elsewhere keeps its job
    assert job_row(sessions, job_id).lease_owner == "w1"
    assert second.requeue_interrupted(only_worker=True) == 1  # the caller says it is the only worker
    back = job_row(sessions, job_id)
    assert (back.status, back.lease_owner, back.attempts) == ("queued", None, 1)
    assert any(m.startswith("Server restarted") for m in messages(sessions, job_id))


def test_two_workers_claiming_at_once_keep_the_fair_share(sessions, blobs, workers, acme_file, tmp_path):
    acme, acme_data = acme_file
    globex = tenant_id(sessions, "globex")
    globex_data = add_training_file(sessions, blobs, globex, tmp_path / "data-g")
    base = time.time()
    acme_jobs = [add_job(sessions, acme, acme_data, tmp_path, created_at=base + i) for i in range(3)]
    globex_job = add_job(sessions, globex, globex_data, tmp_path, created_at=base + 10)
    start, claimed, lock = threading.Barrier(2), [], threading.Lock()

    def claim(queue) -> None:  # noqa: ANN001
        start.wait()
        job = queue.claim_next()
        with lock:
            claimed.append(job.id)

    threads = [threading.Thread(target=claim, args=(queue,)) for queue in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # acme's three older jobs do not take both workers: globex's newer one runs alongside acme's oldest
    assert sorted(claimed) == sorted([acme_jobs[0], globex_job])
    with sessions() as session:
        owners = dict(session.execute(select(FineTuningJobRecord.id, FineTuningJobRecord.lease_owner)
                                      .where(FineTuningJobRecord.status == "running")).all())
    assert set(owners.values()) == {"w1", "w2"}


def test_a_jobs_data_leaves_every_workers_disk_once_it_ended(sessions, workers, acme_file, tmp_path):
    first, second = workers
    job_id = add_job(sessions, *acme_file, tmp_path)
    first.claim_next()
    assert first.fetch_data(job_id)
    mine = tmp_path / "disk-1" / acme_file[0] / job_id
    assert (mine / "dataset" / "metadata.jsonl").is_file()
    lapse(sessions, job_id)
    second.claim_next()
    assert second.fetch_data(job_id)
    first.prepare_pending()  # the job still runs (on w2): w1's copy may serve it again
    assert (mine / "dataset").is_dir()
    second.finish(job_id, FinetuneResult("cancelled", 0, 8, None, []))
    assert not (tmp_path / "disk-2" / acme_file[0] / job_id / "dataset").exists()  # the ending worker's copy
    first.prepare_pending()
    assert not (mine / "dataset").exists()  # and the copy on the disk of the worker that lost it
