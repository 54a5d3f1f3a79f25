"""Many workers claiming from one PostgreSQL queue at once take disjoint jobs (SKIP LOCKED), and
together take every job exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import make_engine, open_database
from gesso.store.sql_job_queue import SqlJobQueue, add_job
from gesso.store.tables import Job, Tenant

JOBS = 40


def enqueue_all(sessions) -> None:  # noqa: ANN001
    with sessions.begin() as session:
        create_tenant(session, "acme")
        tenant = session.scalar(select(Tenant.id))
        for index in range(JOBS):
            # two batch keys, so claims both batch and interleave
            request = GenerationRequest(kind="generate", model="m", prompt=f"p{index}", n=1, size=(32, 32),
                                        steps=2 + index % 2, guidance=4.0, seed=index)
            add_job(session, Job(id=f"job-{index:03d}", tenant_id=tenant, api_key_id="k", kind="generate", model="m",
                                 batch_key=request.batch_key(), spec_json=request.to_json(), n=1,
                                 response_format="b64_json", request_sha256="x", attempts=0,
                                 created_at=time.time() + index * 1e-3), 1000)


def test_concurrent_workers_claim_disjoint_jobs_and_all_of_them(tmp_path, postgres_url: str) -> None:
    sessions = open_database(postgres_url)
    enqueue_all(sessions)
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker(n: int) -> None:
        queue = SqlJobQueue(sessionmaker(make_engine(postgres_url), expire_on_commit=False),
                            LocalBlobStore(tmp_path / "blobs"), owner=f"w{n}")
        start.wait()
        while True:
            batch = queue.claim_batch(3)
            if not batch:
                return
            with lock:
                claimed.extend(job.id for job in batch)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    counts = Counter(claimed)
    assert len(counts) == JOBS and set(counts.values()) == {1}, counts.most_common(3)
    with sessions() as session:
        owners = Counter(session.scalars(select(Job.lease_owner)))
        assert set(session.scalars(select(Job.status))) == {"running"}
    assert len(owners) > 1  # the work was really shared
