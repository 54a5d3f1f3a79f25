"""Erase a tenant: destroy its data key (crypto-shredding: every blob and sealed job spec of the
tenant, wherever a copy lies, becomes unreadable), delete its rows in every table and its blobs,
delete its audit chain, and leave one record in the deployment chain naming what was removed
(counts and ids, no content)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from gesso.governance.audit_events import TENANT_ERASED
from gesso.governance.audit_log import AuditLog, remove_chain
from gesso.governance.tenants import find_tenant
from gesso.store.blob_store import BlobStore
from gesso.store.tables import Base, Tenant
from gesso.store.tenant_keys import shred_data_key

MAX_IDS_PER_TABLE = 1000  # an erasure record lists at most this many ids per table


class UnknownTenant(LookupError):
    pass


@dataclass(frozen=True)
class ErasureReport:
    tenant_id: str
    data_key_destroyed: bool
    rows: dict[str, int]  # table -> rows deleted
    ids: dict[str, list[str]] = field(default_factory=dict)  # table -> ids deleted (capped)
    audit_records: int = 0
    audit_last_hash: str | None = None


def erase_tenant(
    sessions: sessionmaker[Session], blobs: BlobStore, audit: AuditLog, tenant: str, actor: str
) -> ErasureReport:
    """Erase the tenant named `tenant` (name or id); UnknownTenant if there is none."""
    with sessions.begin() as session:
        found = find_tenant(session, tenant)
        if found is None:
            raise UnknownTenant(f"no tenant {tenant!r}")
        tenant_id = found.id
        connection = session.connection()
        shredded = shred_data_key(connection, tenant_id)  # first: the rest is clean-up
        rows: dict[str, int] = {}
        ids: dict[str, list[str]] = {}
        for table in reversed(Base.metadata.sorted_tables):  # children before parents
            if "tenant_id" not in table.c or table.name == Tenant.__tablename__:
                continue
            if "id" in table.c:
                found_ids = connection.scalars(
                    select(table.c.id).where(table.c.tenant_id == tenant_id).limit(MAX_IDS_PER_TABLE)
                ).all()
                if found_ids:
                    ids[table.name] = [str(i) for i in found_ids]
            deleted = connection.execute(delete(table).where(table.c.tenant_id == tenant_id)).rowcount
            if deleted:
                rows[table.name] = deleted
        audit_count, audit_last_hash = remove_chain(session, tenant_id)
        session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        rows["tenants"] = 1
    blobs.delete_prefix(tenant_id)
    report = ErasureReport(tenant_id, shredded, rows, ids, audit_count, audit_last_hash)
    audit.append(
        tenant=None,
        actor=actor,
        action=TENANT_ERASED,
        target=tenant_id,
        details={
            "data_key_destroyed": shredded,
            "rows": rows,
            "ids": ids,
            "tenant_audit_chain": {"records": audit_count, "last_hash": audit_last_hash},
        },
    )
    compact_database(sessions)
    return report


def compact_database(sessions: sessionmaker[Session]) -> None:
    """SQLite keeps deleted rows in free pages and the WAL until they are reused: checkpoint and
    VACUUM so nothing of an erased tenant stays in the file (other databases: their own policy)."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute(text("VACUUM"))
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
