"""A tenant's first settings, written by several requests at once: none fails, one row remains."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from gesso.governance.tenant_policy import TenantSettings, save_tenant_settings, tenant_settings
from gesso.governance.tenants import create_tenant
from gesso.store.database import database_url, open_database
from gesso.store.tables import TenantGovernance


def test_concurrent_first_writes_of_a_tenants_settings_all_succeed(tmp_path):
    sessions = open_database(database_url(tmp_path))
    with sessions.begin() as session:
        tenant_id = create_tenant(session, "acme").id
    barrier = threading.Barrier(8)
    errors = []

    def first_write(i: int) -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                save_tenant_settings(session, tenant_id, TenantSettings(prompt_mode="store" if i % 2 else "hash"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=first_write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TenantGovernance)) == 1
        assert tenant_settings(session, tenant_id).prompt_mode in ("store", "hash")
