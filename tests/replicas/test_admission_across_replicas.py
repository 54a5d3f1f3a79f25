"""Admission by expected wait on API-only replicas: the workers write their measured seconds per
image to the database, so a replica that runs no worker refuses a synchronous request with 429
`server_overloaded` once the work ahead would take longer than `GESSO_MAX_EXPECTED_WAIT_S`, and
its `/metrics` shows the same expected wait."""

from __future__ import annotations

import re
import time

import httpx
from sqlalchemy import select, update

from gesso.store.tables import Job, WorkerThroughput
from tests.replicas.conftest import Topology, wait_until

ELSEWHERE = "another-machine:1:alive"  # a live worker this test does not control
BOUND_S = 60.0  # GESSO_MAX_EXPECTED_WAIT_S: the default, which the topology keeps
HUGE = 1_000_000  # images of one job held ahead of everything: far past any bound


def live_worker_rows(topology: Topology) -> list[WorkerThroughput]:
    with topology.sessions() as session:
        return list(session.scalars(select(WorkerThroughput).where(WorkerThroughput.updated_at >= time.time() - 60)))


def refusal(client: httpx.Client) -> httpx.Response | None:
    """A synchronous request, if it was refused (a replica's cached figure may be a moment old)."""
    answer = client.post("/v1/images/generations", json={"prompt": "now please"})
    return answer if answer.status_code == 429 else None


def expected_wait_gauge(topology: Topology, replica: int) -> float:
    with topology.http(replica) as client:
        metrics = client.get("/metrics").text
    return float(re.search(r"^gesso_queue_expected_wait_seconds (\S+)$", metrics, re.M).group(1))


def test_an_api_only_replica_refuses_when_the_shared_figure_says_the_wait_is_too_long(topology: Topology):
    key = topology.make_key("admission-tenant")
    with topology.http(0, key) as replica_a, topology.http(1, key) as replica_b:
        assert replica_a.post("/v1/images/generations", json={"prompt": "measure"}).status_code == 200
        rows = wait_until(lambda: live_worker_rows(topology), what="a worker writing its seconds per image")
        assert all(row.seconds_per_image > 0 for row in rows)
        assert {row.owner.split(":")[1] for row in rows} <= {str(worker.pid) for worker in topology.workers}

        with topology.http(1, topology.make_key("admission-elsewhere")) as other:  # not this tenant's quota
            held = other.post("/v1/images/generations", json={"prompt": "ahead", "background": True}).json()["id"]
        with topology.sessions.begin() as session:  # as if a live worker elsewhere ran a huge job
            session.execute(update(Job).where(Job.id == held).values(
                n=HUGE, status="running", lease_owner=ELSEWHERE, lease_expires_at=time.time() + 3600))
        try:
            for replica in (replica_b, replica_a):  # neither replica runs a worker
                refused = wait_until(lambda client=replica: refusal(client), timeout=10, what="a refusal")
                assert refused.json()["error"]["code"] == "server_overloaded"
                assert int(refused.headers["retry-after"]) >= 1
                assert replica.post("/v1/images/generations",
                                    json={"prompt": "later", "background": True}).status_code == 202
            assert expected_wait_gauge(topology, 1) > BOUND_S
        finally:
            with topology.sessions.begin() as session:
                session.execute(update(Job).where(Job.id == held).values(
                    n=1, status="succeeded", lease_owner=None, lease_expires_at=None))
        assert replica_b.post("/v1/images/generations", json={"prompt": "admitted again"}).status_code == 200
    assert expected_wait_gauge(topology, 0) < BOUND_S
