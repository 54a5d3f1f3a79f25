"""Hash-chained audit records: what a record holds, how it is hashed, and how the next one is made.

Each record carries `prev_hash`, the hash of the record before it, and `hash`, the sha256 of its own
canonical JSON (every field but `hash`). Editing a record breaks its hash; deleting, inserting or
reordering records breaks the links or the sequence. An attacker with write access to the database
can recompute every hash after the record they changed, so every N records a checkpoint signs
(seq, hash) with an Ed25519 key kept outside the database (`audit_checkpoints`, `audit_signing`);
`audit_verification` checks a whole chain and `audit_export` writes and reads it for a SIEM.

A chain is verified as a whole, so keep one chain per tenant (and one for deployment-wide
events): then a tenant's export (`GET /v1/audit`) verifies on its own. Storage stays out of these
modules: records and checkpoints are plain frozen dataclasses with `to_dict`/`from_dict`, so the
service can keep them in a table and the CLI can read an export.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

GENESIS_HASH = "0" * 64
RECORD_FIELDS = (  # in the order exports write them
    "seq",
    "time",
    "tenant",
    "actor",
    "action",
    "target",
    "details",
    "prev_hash",
    "hash",
)


def canonical_json(value: Any) -> bytes:
    """The byte encoding that hashes and signatures cover (sorted keys, no spaces). Only valid
    JSON: ValueError for NaN or an infinity, UnicodeEncodeError for a lone surrogate."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _legacy_json(value: Any) -> bytes:
    """canonical_json as it was before it refused non-finite numbers, for verifying old records."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by its name ("Infinity", "-Infinity", "NaN")
    and every string made encodable (a lone surrogate becomes its `\\udXXX` escape), so that a
    record always holds valid JSON and the event is still kept."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time: str
    tenant: str | None
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """Every field that the hash covers (all but `hash`)."""
        fields = asdict(self)
        del fields["hash"]
        return fields

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "AuditRecord":
        return cls(**{name: row[name] for name in RECORD_FIELDS})



def record_hash(body: dict[str, Any]) -> str:
    """sha256 hex of a record body's canonical JSON."""
    try:
        encoded = canonical_json(body)
    except ValueError:  # a record written before non-finite numbers were refused
        encoded = _legacy_json(body)
    return hashlib.sha256(encoded).hexdigest()


def append_record(
    previous: AuditRecord | None,
    *,
    tenant: str | None,
    actor: str,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    time: str | None = None,
) -> AuditRecord:
    """The record that follows `previous` (None for the first record of a chain).

    `details` must be JSON-serialisable; it is copied through JSON so the stored record hashes the
    same after a round trip through a database or an export. Raises TypeError otherwise. A
    non-finite number or a lone surrogate (which JSON cannot hold) is kept as text (`json_safe`).
    """
    details = json.loads(canonical_json(json_safe(details or {})))
    body = {
        "seq": previous.seq + 1 if previous else 1,
        "time": time or utc_now(),
        "tenant": tenant,
        "actor": actor,
        "action": action,
        "target": json_safe(target),
        "details": details,
        "prev_hash": previous.hash if previous else GENESIS_HASH,
    }
    return AuditRecord(**body, hash=record_hash(body))


def prompt_detail(prompt: str, mode: Literal["store", "hash"]) -> dict[str, str]:
    """What the audit log keeps of a prompt: the text, or only its sha256 (per tenant setting)."""
    if mode == "store":
        return {"prompt": prompt}
    if mode == "hash":
        return {"prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()}
    raise ValueError(f"prompt mode must be 'store' or 'hash', got {mode!r}")
