"""Envelope encryption of blobs: AES-256-GCM under per-tenant data keys wrapped by a master key.

A blob on disk is `MAGIC | nonce | ciphertext+tag`. Its associated data names the tenant and the
blob id, so a blob moved to another tenant's folder, or swapped with another blob, fails to decrypt
instead of being served as the other's data. Each tenant's data key is stored only wrapped (see
`key_provider`); destroying that wrapped key (crypto-shredding) leaves every blob of the tenant
unreadable, wherever copies of it lie (backups, replicas).
"""

from __future__ import annotations

import json
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gesso.store.key_provider import KEY_BYTES, NONCE_BYTES, KeyProvider, WrappedKey

MAGIC = b"GSB1"  # Gesso sealed blob, format 1
HEADER_BYTES = len(MAGIC) + NONCE_BYTES


class BlobUnreadable(Exception):
    """A blob that is not Gesso's format, was altered, or belongs to another tenant or blob id."""


def new_data_key() -> bytes:
    """A fresh 256-bit data key (one per tenant)."""
    return secrets.token_bytes(KEY_BYTES)


def tenant_context(tenant_id: str) -> bytes:
    """The context a tenant's data key is wrapped under."""
    return json.dumps(["tenant", tenant_id]).encode()


def wrap_data_key(provider: KeyProvider, tenant_id: str, data_key: bytes) -> WrappedKey:
    return provider.wrap(data_key, tenant_context(tenant_id))


def unwrap_data_key(provider: KeyProvider, tenant_id: str, wrapped: WrappedKey) -> bytes:
    """The tenant's data key; raises KeyUnavailable if the master key or tenant is wrong."""
    return provider.unwrap(wrapped, tenant_context(tenant_id))


def rewrap(old: KeyProvider, new: KeyProvider, tenant_id: str, wrapped: WrappedKey) -> WrappedKey:
    """The same data key wrapped under `new`'s current master key; blobs stay as they are."""
    return new.wrap(old.unwrap(wrapped, tenant_context(tenant_id)), tenant_context(tenant_id))


def blob_aad(tenant_id: str, blob_id: str) -> bytes:
    # JSON keeps the two fields unambiguous ("a/b" + "c" never equals "a" + "b/c").
    return json.dumps(["gesso blob v1", tenant_id, blob_id]).encode()


def encrypt_blob(data_key: bytes, plaintext: bytes, *, tenant_id: str, blob_id: str) -> bytes:
    """Seal `plaintext` for (tenant_id, blob_id) under the tenant's data key."""
    if len(data_key) != KEY_BYTES:
        raise ValueError(f"data key must be {KEY_BYTES} bytes")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, blob_aad(tenant_id, blob_id))


def decrypt_blob(data_key: bytes, sealed: bytes, *, tenant_id: str, blob_id: str) -> bytes:
    """Open a sealed blob; raises BlobUnreadable on a wrong key, tenant, blob id or altered byte."""
    if len(sealed) < HEADER_BYTES + 16 or not sealed.startswith(MAGIC):
        raise BlobUnreadable(f"blob {blob_id} is not a sealed Gesso blob")
    nonce = sealed[len(MAGIC) : HEADER_BYTES]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed[HEADER_BYTES:], blob_aad(tenant_id, blob_id))
    except InvalidTag as error:
        raise BlobUnreadable(f"blob {blob_id} does not open for tenant {tenant_id}") from error
