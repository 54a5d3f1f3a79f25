"""Per-tenant data keys: made on first use, stored only wrapped by the master key, destroyed on
erasure (crypto-shredding), re-wrapped when the master key rotates.

Where the master key comes from: `GESSO_MASTER_KEY` (base64, newest first, comma-separated), or
a key file (default `<keys_dir>/master.key`, created with mode 0600 on first start; replicas
that start together on one shared keys folder all use the one created first).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import Connection, Engine, delete, select, update

from gesso.store.crypto_envelope import new_data_key, rewrap, unwrap_data_key, wrap_data_key
from gesso.store.insert_if_absent import insert_if_absent
from gesso.store.key_provider import (
    MASTER_KEY_ENV,
    KeyProvider,
    KeyUnavailable,
    WrappedKey,
    provider_from_env,
    provider_from_file,
)
from gesso.store.tables import TenantDataKey

MASTER_KEY_FILE = "master.key"


def master_key_path(keys_dir: Path, configured: Path | None = None) -> Path:
    return configured or keys_dir / MASTER_KEY_FILE


def open_key_provider(keys_dir: Path, configured_file: Path | None = None) -> KeyProvider:
    """The master key from the environment if set, else from the key file (made on first start).

    Raises ValueError for malformed key material.
    """
    if os.environ.get(MASTER_KEY_ENV, "").strip():
        return provider_from_env()
    return provider_from_file(master_key_path(keys_dir, configured_file), create=True)


class TenantKeyring:
    """Looks up (or makes) a tenant's data key; nothing unwrapped is kept between calls, so a
    shredded key stops working at once in every process."""

    def __init__(self, engine: Engine, provider: KeyProvider, reload: Callable[[], KeyProvider] | None = None):
        self.engine = engine
        self.provider = provider
        self.reload = reload  # re-reads the master key after `gesso keys rotate-master` elsewhere

    def data_key(self, tenant_id: str, connection: Connection | None = None) -> bytes:
        """The tenant's 256-bit data key, made and stored wrapped on first use.

        `connection`: run inside the caller's transaction (from an ORM flush), so no second writer
        waits on the first. Safe when several requests of a new tenant make the key at once: the
        first insert wins and everyone uses the stored key. Raises KeyUnavailable when the master
        key does not open it.
        """
        if connection is not None:
            return self._data_key_on(connection, tenant_id)
        with self.engine.begin() as own:
            return self._data_key_on(own, tenant_id)

    def _data_key_on(self, connection: Connection, tenant_id: str) -> bytes:
        stored = self._stored(connection, tenant_id)
        if stored is None:
            key = new_data_key()
            wrapped = wrap_data_key(self.provider, tenant_id, key).to_json()
            values = {"tenant_id": tenant_id, "wrapped_key": wrapped, "created_at": time.time()}
            if insert_if_absent(connection, TenantDataKey, values, ["tenant_id"]):
                return key
            stored = self._stored(connection, tenant_id)  # another writer's key won: use it
            if stored is None:
                raise KeyUnavailable(f"the data key of tenant {tenant_id} was removed while it was made")
        wrapped = WrappedKey.from_json(stored)
        if wrapped.master_key_id != self.provider.current_key_id and self.reload is not None:
            try:
                return unwrap_data_key(self.provider, tenant_id, wrapped)
            except KeyUnavailable:
                self.provider = self.reload()  # the master key was rotated by another process
        return unwrap_data_key(self.provider, tenant_id, wrapped)

    @staticmethod
    def _stored(connection: Connection, tenant_id: str) -> str | None:
        return connection.scalar(select(TenantDataKey.wrapped_key).where(TenantDataKey.tenant_id == tenant_id))


def shred_data_key(connection: Connection, tenant_id: str) -> bool:
    """Delete the tenant's wrapped data key: every blob and sealed spec of the tenant is then
    unreadable, including copies in backups. Returns whether there was one."""
    return connection.execute(delete(TenantDataKey).where(TenantDataKey.tenant_id == tenant_id)).rowcount > 0


def rewrap_all(engine: Engine, old: KeyProvider, new: KeyProvider) -> int:
    """Re-wrap every tenant's data key under `new`'s current master key, in one transaction; the
    blobs are not touched. Returns how many keys were re-wrapped."""
    with engine.begin() as connection:
        rows = connection.execute(select(TenantDataKey.tenant_id, TenantDataKey.wrapped_key)).all()
        for tenant_id, stored in rows:
            wrapped = rewrap(old, new, tenant_id, WrappedKey.from_json(stored))
            connection.execute(
                update(TenantDataKey).where(TenantDataKey.tenant_id == tenant_id).values(wrapped_key=wrapped.to_json())
            )
    return len(rows)
