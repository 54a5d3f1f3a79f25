"""The audit log as the server and CLI keep it: hash chains in the `audit_records` table, one per
tenant and one for deployment-wide events, with Ed25519-signed checkpoints every N records.

`AuditLog.append` is the one way a record is written. Records are appended in their own short
transaction after the event they describe has committed (a crash between the two loses the record,
never invents one). Several processes may append at once (replicas, workers, a CLI command): on
PostgreSQL each append holds an advisory lock on its chain, so appends to one chain queue up; on
either database the unique (chain, seq) constraint turns any remaining race into a retry, never a
fork.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gesso.governance.audit_chain import (
    PUBLIC_KEY_FILE,
    AuditRecord,
    ChainReport,
    Checkpoint,
    append_record,
    checkpoint_due,
    load_or_create_signing_key,
    load_public_key,
    make_checkpoint,
    verify_chain,
)
from gesso.store.advisory_locks import transaction_lock
from gesso.store.tables import AuditCheckpointRow, AuditRecordRow

DEPLOYMENT_CHAIN = "deployment"
APPEND_ATTEMPTS = 8
log = logging.getLogger("gesso.audit")


def chain_of(tenant: str | None) -> str:
    """Tenant events go to the tenant's chain; deployment-wide events to "deployment"."""
    return tenant or DEPLOYMENT_CHAIN


def record_from_row(row: AuditRecordRow) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        time=row.time,
        tenant=row.tenant,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=json.loads(row.details_json),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def checkpoint_from_row(row: AuditCheckpointRow) -> Checkpoint:
    return Checkpoint(row.seq, row.record_hash, row.time, row.key_id, row.signature)


class AuditLog:
    """Appends records and signs checkpoints; holds the signing key and an in-process lock."""

    def __init__(self, sessions: sessionmaker[Session], keys_dir: Path, checkpoint_every: int = 100):
        self.sessions = sessions
        self.keys_dir = keys_dir
        self.checkpoint_every = checkpoint_every
        self._lock = threading.Lock()
        self._key: Ed25519PrivateKey | None = None

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_or_create_signing_key(self.keys_dir)
        return self._key

    def append(
        self,
        *,
        tenant: str | None,
        actor: str,
        action: str,
        target: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one record to the tenant's chain (or the deployment chain for None).

        Raises TypeError when `details` is not JSON-serialisable; OperationalError if the database
        stays locked through every retry.
        """
        chain = chain_of(tenant)
        key = self.signing_key
        with self._lock:
            for attempt in range(APPEND_ATTEMPTS):
                try:
                    return self._append_once(chain, tenant, actor, action, target, details, key)
                except (IntegrityError, OperationalError):
                    # another process appended to this chain (or held the write lock): re-read
                    if attempt == APPEND_ATTEMPTS - 1:
                        raise
                    time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    def _append_once(
        self,
        chain: str,
        tenant: str | None,
        actor: str,
        action: str,
        target: str,
        details: dict[str, Any] | None,
        key: Ed25519PrivateKey,
    ) -> AuditRecord:
        with self.sessions.begin() as session:
            transaction_lock(session, f"audit-chain:{chain}")
            last = _newest_row(session, chain)
            record = append_record(
                record_from_row(last) if last else None,
                tenant=tenant,
                actor=actor,
                action=action,
                target=target[:300],
                details=details,
            )
            session.add(
                AuditRecordRow(
                    chain=chain,
                    seq=record.seq,
                    time=record.time,
                    tenant=record.tenant,
                    actor=record.actor,
                    action=record.action,
                    target=record.target,
                    details_json=json.dumps(record.details, sort_keys=True),
                    prev_hash=record.prev_hash,
                    hash=record.hash,
                )
            )
            if checkpoint_due(record.seq, self.checkpoint_every):
                _add_checkpoint(session, chain, make_checkpoint(record, key))
        return record

    def checkpoint_all(self) -> int:
        """Sign the newest record of every chain not already covered (call at shutdown)."""
        signed = 0
        with self._lock, self.sessions.begin() as session:
            for chain in stored_chains(session):  # sorted, so lock order is the same everywhere
                transaction_lock(session, f"audit-chain:{chain}")
                last = _newest_row(session, chain)
                if last is None:
                    continue
                covered = session.scalar(
                    select(AuditCheckpointRow.id).where(
                        AuditCheckpointRow.chain == chain, AuditCheckpointRow.seq == last.seq
                    )
                )
                if covered is None:
                    _add_checkpoint(session, chain, make_checkpoint(record_from_row(last), self.signing_key))
                    signed += 1
        return signed

    def append_quietly(self, **fields: Any) -> None:
        """`append`, logging instead of raising: for records written on a path that must not fail
        because of the audit log (a refusal already being answered, a blocked socket)."""
        try:
            self.append(**fields)
        except Exception:  # noqa: BLE001
            log.exception("could not write audit record %s", fields.get("action"))


def _newest_row(session: Session, chain: str) -> AuditRecordRow | None:
    return session.scalars(
        select(AuditRecordRow).where(AuditRecordRow.chain == chain).order_by(AuditRecordRow.seq.desc()).limit(1)
    ).first()


def _add_checkpoint(session: Session, chain: str, checkpoint: Checkpoint) -> None:
    session.add(
        AuditCheckpointRow(
            chain=chain,
            seq=checkpoint.seq,
            record_hash=checkpoint.record_hash,
            time=checkpoint.time,
            key_id=checkpoint.key_id,
            signature=checkpoint.signature,
        )
    )


# -- reading, verifying, removing ------------------------------------------------------------------


def stored_chains(session: Session) -> list[str]:
    """Every chain that has a record or a checkpoint."""
    names = set(session.scalars(select(AuditRecordRow.chain).distinct()))
    names |= set(session.scalars(select(AuditCheckpointRow.chain).distinct()))
    return sorted(names)


def chain_records(session: Session, chain: str) -> list[AuditRecord]:
    """A chain's records in storage order (the order `verify_chain` checks)."""
    rows = session.scalars(select(AuditRecordRow).where(AuditRecordRow.chain == chain).order_by(AuditRecordRow.id))
    return [record_from_row(row) for row in rows]


def chain_checkpoints(session: Session, chain: str) -> list[Checkpoint]:
    rows = session.scalars(
        select(AuditCheckpointRow).where(AuditCheckpointRow.chain == chain).order_by(AuditCheckpointRow.id)
    )
    return [checkpoint_from_row(row) for row in rows]


def audit_public_key(keys_dir: Path) -> Ed25519PublicKey:
    """The checkpoint key's public half; FileNotFoundError when no audit record was ever signed."""
    return load_public_key((keys_dir / PUBLIC_KEY_FILE).read_bytes())


@dataclass(frozen=True)
class ChainVerification:
    chain: str
    report: ChainReport


def verify_stored_chains(
    session: Session, public_key: Ed25519PublicKey, chain: str | None = None
) -> list[ChainVerification]:
    """Verify every stored chain (or one); each report names its altered, missing, inserted and
    reordered records."""
    chains = [chain] if chain is not None else stored_chains(session)
    return [
        ChainVerification(name, verify_chain(chain_records(session, name), chain_checkpoints(session, name), public_key))
        for name in chains
    ]


def remove_chain(session: Session, chain: str) -> tuple[int, str | None]:
    """Delete a whole chain (tenant erasure) in the caller's transaction; returns how many records
    it had and its last hash, which the erasure record in the deployment chain keeps."""
    records = chain_records(session, chain)
    last_hash = records[-1].hash if records else None
    session.execute(delete(AuditRecordRow).where(AuditRecordRow.chain == chain))
    session.execute(delete(AuditCheckpointRow).where(AuditCheckpointRow.chain == chain))
    return len(records), last_hash


def query_records(
    session: Session,
    chain: str,
    *,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[AuditRecord]:
    """Records of one chain in seq order, filtered; `since`/`until` are ISO 8601 UTC bounds
    (inclusive / exclusive) compared as text, which orders correctly for these timestamps."""
    query = select(AuditRecordRow).where(AuditRecordRow.chain == chain, AuditRecordRow.seq > after_seq)
    if action is not None:
        query = query.where(AuditRecordRow.action == action)
    if since is not None:
        query = query.where(AuditRecordRow.time >= since)
    if until is not None:
        query = query.where(AuditRecordRow.time < until)
    rows = session.scalars(query.order_by(AuditRecordRow.seq).limit(limit))
    return [record_from_row(row) for row in rows]
