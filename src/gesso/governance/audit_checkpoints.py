"""Checkpoints: Ed25519-signed statements that a chain had a given hash at a given seq."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gesso.governance.audit_chain import AuditRecord, canonical_json, utc_now
from gesso.governance.audit_signing import key_id


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # the last record the checkpoint covers
    record_hash: str  # that record's hash
    time: str
    key_id: str
    signature: str  # base64 Ed25519 over canonical_json(signed_body())

    def signed_body(self) -> dict[str, Any]:
        """Every field that the signature covers (all but `signature`)."""
        fields = asdict(self)
        del fields["signature"]
        return fields

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Checkpoint":
        return cls(**{field.name: row[field.name] for field in dataclasses.fields(cls)})


def checkpoint_due(seq: int, every: int) -> bool:
    """Whether the record with this seq should be followed by a checkpoint."""
    return every > 0 and seq % every == 0


def make_checkpoint(
    record: AuditRecord, private_key: Ed25519PrivateKey, time: str | None = None
) -> Checkpoint:
    """A signed statement that the chain up to `record` had this hash at `time`."""
    unsigned = Checkpoint(
        seq=record.seq,
        record_hash=record.hash,
        time=time or utc_now(),
        key_id=key_id(private_key.public_key()),
        signature="",
    )
    signature = private_key.sign(canonical_json(unsigned.signed_body()))
    return Checkpoint(**{**unsigned.to_dict(), "signature": base64.b64encode(signature).decode()})


def checkpoint_signature_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(
            base64.b64decode(checkpoint.signature), canonical_json(checkpoint.signed_body())
        )
    except (InvalidSignature, ValueError):
        return False
    return True
