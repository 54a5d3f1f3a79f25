"""What a running deployment holds for governance: the audit log, the tenant keyring (envelope
encryption), the Content Credentials identity, and the content-policy embedder. Built once from
the settings by the server and by the CLI commands that need it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from gesso.governance.audit_log import AuditLog
from gesso.governance.delivery_stamping import StampingJobQueue
from gesso.governance.provenance_c2pa import SigningIdentity, ensure_identity
from gesso.settings import Settings
from gesso.store.blob_store import BlobStore
from gesso.store.key_provider import KeyProvider
from gesso.store.sealed_blob_store import SealedBlobStore
from gesso.store.sealed_job_specs import enable_spec_sealing
from gesso.store.tenant_keys import TenantKeyring, open_key_provider


def keys_dir(settings: Settings) -> Path:
    """Where the deployment's keys live: `keys_dir`, by default `<data_dir>/keys`. Every replica
    and worker of one deployment reads the same keys (a shared volume or a mounted secret)."""
    return settings.keys_dir or settings.data_dir / "keys"


@dataclass
class Governance:
    sessions: sessionmaker[Session]
    keys_dir: Path
    audit: AuditLog
    provider: KeyProvider
    keyring: TenantKeyring
    _identity: SigningIdentity | None = None
    _embedder: object | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def seal(self, blobs: BlobStore) -> BlobStore:
        """`blobs` with every blob sealed under its tenant's data key."""
        return SealedBlobStore(blobs, self.keyring)

    def identity(self) -> SigningIdentity:
        """The deployment's C2PA signing identity (a local CA is made on first use)."""
        with self._lock:
            if self._identity is None:
                self._identity = ensure_identity(self.keys_dir)
            return self._identity

    def stamping(self, queue):  # noqa: ANN001, ANN201 - JobQueue in, JobQueue out
        """The queue the worker completes jobs through, stamping and recording every image."""
        return StampingJobQueue(queue, self.sessions, self.identity, self.audit)

    def embedder(self):  # noqa: ANN201
        """The MiniLM embedder for blocked concepts and prompt revision, loaded on first need."""
        from gesso.model.text_encoder import MiniLMEmbedder

        with self._lock:
            if self._embedder is None:
                self._embedder = MiniLMEmbedder()
            return self._embedder


def open_governance(settings: Settings, sessions: sessionmaker[Session]) -> Governance:
    """Open the master key (made on first start), the audit log, and turn on spec sealing for
    `sessions`. Raises ValueError for malformed master key material."""
    folder = keys_dir(settings)
    provider = open_key_provider(folder, settings.master_key_file)
    keyring = TenantKeyring(
        sessions.kw["bind"], provider, reload=lambda: open_key_provider(folder, settings.master_key_file)
    )
    enable_spec_sealing(sessions, keyring)
    audit = AuditLog(sessions, folder, settings.audit_checkpoint_every)
    return Governance(sessions=sessions, keys_dir=folder, audit=audit, provider=provider, keyring=keyring)


def open_audit_log(settings: Settings, sessions: sessionmaker[Session]) -> AuditLog:
    """The audit log alone, for CLI commands and the serve process's egress guard."""
    return AuditLog(sessions, keys_dir(settings), settings.audit_checkpoint_every)


def record_first_start(settings: Settings, sessions: sessionmaker[Session], secret: str) -> None:
    """Audit the tenant and admin key that the first start made."""
    from gesso.governance.api_keys import find_active_key
    from gesso.governance.audit_events import record_key_created, record_tenant_created

    with sessions() as session:
        key = find_active_key(session, secret)
    audit = open_audit_log(settings, sessions)
    record_tenant_created(audit, key.tenant_id, "first start")
    record_key_created(audit, key.tenant_id, "first start", key.id, key.role)
