"""A blob store that seals every blob with its tenant's data key (AES-256-GCM, envelope
encryption) on the way in and opens it on the way out; same interface, so callers never change.

`put` seals a small blob whole (GSB1, `crypto_envelope`); `put_stream` seals segment by segment
(GSB2, `crypto_stream`), so a large one is never whole in memory, plaintext or ciphertext. `get`
and `open_stream` open either format.

The tenant is the first part of the key (`<tenant_id>/...`), and the whole key is bound into the
ciphertext, so a blob moved or copied under another key does not open.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

from gesso.store.blob_store import BlobStore
from gesso.store.byte_streams import BlobChunks, ChunkReader
from gesso.store.crypto_envelope import encrypt_blob
from gesso.store.crypto_stream import open_sealed, open_sealed_bytes, seal_segments
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
        return open_sealed_bytes(self.keyring.data_key(tenant), sealed, tenant_id=tenant, blob_id=key)

    def put_stream(self, key: str, source: BinaryIO) -> None:
        """Seal `source` segment by segment into the inner store's `put_stream`."""
        tenant = tenant_of(key)
        sealed = seal_segments(self.keyring.data_key(tenant), source, tenant_id=tenant, blob_id=key)
        self.inner.put_stream(key, ChunkReader(sealed))

    def open_stream(self, key: str) -> BlobChunks:
        """The plaintext in segments. The first segment is opened before this returns, so a
        missing, moved, swapped or shredded blob raises here (BlobNotFound, BlobUnreadable);
        a segment altered further on raises BlobUnreadable when reading reaches it."""
        tenant = tenant_of(key)
        data_key = self.keyring.data_key(tenant)
        sealed = self.inner.open_stream(key)
        plain = open_sealed(data_key, sealed, tenant_id=tenant, blob_id=key)

        def close() -> None:
            plain.close()
            sealed.close()

        try:
            first = next(plain, b"")
        except BaseException:
            close()
            raise
        return BlobChunks(chain([first] if first else [], plain), close)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete_prefix(self, prefix: str) -> None:
        self.inner.delete_prefix(prefix)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return self.inner.keys(prefix)
