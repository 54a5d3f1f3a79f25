"""Master keys behind a small interface: wrap and unwrap data keys, nothing else.

`KeyProvider` is what a cloud KMS would implement (its Encrypt/Decrypt calls with an encryption
context map onto `wrap`/`unwrap` with `context`). `LocalKeyProvider` holds 256-bit master keys read
from a file or an environment variable; it keeps older keys so that data keys wrapped before a
rotation can still be unwrapped until `rewrap` has moved them to the current key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gesso.store.secret_files import read_or_create_secret

MASTER_KEY_ENV = "GESSO_MASTER_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12


class KeyUnavailable(Exception):
    """The master key that wrapped a data key is not held, or the wrapped key does not open."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a master key; safe to store beside the data in the database."""

    master_key_id: str
    nonce: bytes
    ciphertext: bytes  # AES-256-GCM of the data key, tag appended

    def to_json(self) -> str:
        return json.dumps(
            {
                "master_key_id": self.master_key_id,
                "nonce": base64.b64encode(self.nonce).decode(),
                "ciphertext": base64.b64encode(self.ciphertext).decode(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "WrappedKey":
        row = json.loads(text)
        return cls(
            row["master_key_id"],
            base64.b64decode(row["nonce"]),
            base64.b64decode(row["ciphertext"]),
        )


class KeyProvider(Protocol):
    """Wraps data keys under the current master key; unwraps under whichever key wrapped them.

    `context` is bound into the wrapping (AES-GCM associated data, or a KMS encryption context), so
    a wrapped key copied to another tenant's row does not open.
    """

    @property
    def current_key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...


def master_key_id(key: bytes) -> str:
    """A stable, non-secret name for a master key (a domain-separated hash, not the key)."""
    return "mk-" + hashlib.sha256(b"gesso master key id\x00" + key).hexdigest()[:16]


class LocalKeyProvider:
    """Master keys held in process memory; the newest is used to wrap, all of them to unwrap."""

    def __init__(self, keys: list[bytes]):
        if not keys:
            raise ValueError("at least one master key is needed")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"a master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._keys = {master_key_id(key): key for key in keys}
        self._current = master_key_id(keys[0])

    @property
    def current_key_id(self) -> str:
        return self._current

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(self._keys[self._current]).encrypt(nonce, data_key, _wrap_aad(context))
        return WrappedKey(self._current, nonce, ciphertext)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        key = self._keys.get(wrapped.master_key_id)
        if key is None:
            raise KeyUnavailable(f"master key {wrapped.master_key_id} is not configured")
        try:
            return AESGCM(key).decrypt(wrapped.nonce, wrapped.ciphertext, _wrap_aad(context))
        except InvalidTag as error:
            raise KeyUnavailable(
                "the wrapped data key does not open under this master key and context"
            ) from error


def _wrap_aad(context: bytes) -> bytes:
    return b"gesso data key v1\x00" + context


# -- where master keys come from -------------------------------------------------------------------


def generate_master_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_master_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_master_key(text: str) -> bytes:
    """A base64 master key; raises ValueError if it is not base64 of exactly 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as error:
        raise ValueError("master key is not valid base64") from error
    if len(key) != KEY_BYTES:
        raise ValueError(f"master key must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def write_master_key_file(path: Path, keys: list[bytes]) -> None:
    """Write keys (newest first, one base64 line each) atomically with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(encode_master_key(key) + "\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)


def read_master_key_file(path: Path) -> list[bytes]:
    """Keys from a master key file, newest first (blank lines and `#` comments ignored)."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [decode_master_key(line) for line in lines if line and not line.startswith("#")]


def provider_from_file(path: Path, create: bool = False) -> LocalKeyProvider:
    """A provider over the keys in `path`; with `create`, a new key file is made if none exists.

    Creation is race-safe: processes that start together on one shared keys folder all end up
    with the one key file that was created first.
    """
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"master key file {path} does not exist")
        read_or_create_secret(path, lambda: (encode_master_key(generate_master_key()) + "\n").encode())
    return LocalKeyProvider(read_master_key_file(path))


def provider_from_env(
    environ: dict[str, str] | None = None, name: str = MASTER_KEY_ENV
) -> LocalKeyProvider:
    """A provider over the base64 key(s) in an env variable (newest first, comma-separated)."""
    environ = os.environ if environ is None else environ
    value = environ.get(name, "").strip()
    if not value:
        raise KeyError(f"environment variable {name} is not set")
    return LocalKeyProvider([decode_master_key(part) for part in value.split(",") if part.strip()])


def rotated_key_file(path: Path) -> bytes:
    """Put a new master key at the head of the key file, keeping the old ones for unwrapping.

    Returns the new key. After every data key has been re-wrapped (`crypto_envelope.rewrap`), the
    old keys can be dropped with `write_master_key_file(path, [new_key])`.
    """
    new_key = generate_master_key()
    write_master_key_file(path, [new_key, *read_master_key_file(path)])
    return new_key
