"""A blob store that seals every blob with its tenant's data key (AES-256-GCM, envelope
encryption) on `put` and opens it on `get`; same interface, so callers never change.

The tenant is the first part of the key (`<tenant_id>/...`), and the whole key is bound into the
ciphertext, so a blob moved or copied under another key does not open.
"""

from __future__ import annotations

from collections.abc import Iterator

from gesso.store.blob_store import BlobStore
from gesso.store.crypto_envelope import decrypt_blob, encrypt_blob
from gesso.store.tenant_keys import TenantKeyring


def tenant_of(key: str) -> str:
    tenant, _, rest = key.partition("/")
    if not tenant or not rest:
        raise ValueError(f"blob key {key!r} does not start with a tenant")
    return tenant


class SealedBlobStore:
    def __init__(self, inner: BlobStore, keyring: TenantKeyring):
        self.inner = inner
        self.keyring = keyring

    def put(self, key: str, data: bytes) -> None:
        tenant = tenant_of(key)
        self.inner.put(key, encrypt_blob(self.keyring.data_key(tenant), data, tenant_id=tenant, blob_id=key))

    def get(self, key: str) -> bytes:
        """The plaintext; BlobNotFound if absent, BlobUnreadable if altered, moved or shredded."""
        tenant = tenant_of(key)
        sealed = self.inner.get(key)
        return decrypt_blob(self.keyring.data_key(tenant), sealed, tenant_id=tenant, blob_id=key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete_prefix(self, prefix: str) -> None:
        self.inner.delete_prefix(prefix)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return self.inner.keys(prefix)
