"""A new tenant's first requests, all at once: every one is accepted (the tenant's data key is
made once, whoever makes it first), none answers 500."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from gesso.governance.tenants import find_tenant
from gesso.store.tables import Job, TenantDataKey
from tests.service.conftest import http

CONCURRENT = 8


def test_eight_concurrent_first_requests_of_a_new_tenant_are_all_accepted(server, sessions, make_key):
    key = make_key("race-tenant-first-requests", "developer")
    barrier = threading.Barrier(CONCURRENT)
    statuses: list[int] = []

    def first_request(i: int) -> None:
        with http(server, key) as client:
            barrier.wait()
            response = client.post("/v1/images/generations",
                                   json={"prompt": f"first {i}", "background": True})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=first_request, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [202] * CONCURRENT
    with sessions() as session:
        tenant_id = find_tenant(session, "race-tenant-first-requests").id
        keys = session.scalar(select(func.count()).select_from(TenantDataKey).where(TenantDataKey.tenant_id == tenant_id))
        jobs = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id))
    assert (keys, jobs) == (1, CONCURRENT)
