"""Hash-chained audit records, Ed25519-signed checkpoints, chain verification and SIEM export.

Each record carries `prev_hash`, the hash of the record before it, and `hash`, the sha256 of its own
canonical JSON (every field but `hash`). Editing a record breaks its hash; deleting, inserting or
reordering records breaks the links or the sequence. An attacker with write access to the database
can recompute every hash after the record they changed, so every N records a checkpoint signs
(seq, hash) with an Ed25519 key that lives in a PEM file, not in the database: a rewritten chain no
longer matches the signed hashes, and a forged checkpoint fails its signature.

A chain is verified as a whole, so keep one chain per tenant (and one for deployment-wide
events): then a tenant's export (`GET /v1/audit`) verifies on its own. Storage stays out of this
module: records and checkpoints are plain frozen dataclasses with `to_dict`/`from_dict`, so the
service can keep them in a table and the CLI can read an export.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gesso.store.secret_files import read_or_create_secret

GENESIS_HASH = "0" * 64
SIGNING_KEY_FILE = "audit-signing-key.pem"
PUBLIC_KEY_FILE = "audit-signing-key.pub.pem"
EXPORT_FIELDS = (
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

ProblemKind = Literal[
    "altered",  # the record's own hash does not match its fields
    "broken_link",  # prev_hash does not name the record before it
    "missing",  # a sequence number is absent (deleted record)
    "inserted",  # a record that does not belong to the chain (duplicate seq, or linked around)
    "reordered",  # a record stands after one with a higher seq
    "bad_start",  # the first record does not start from the genesis hash
    "checkpoint_forged",  # a checkpoint's signature does not verify
    "checkpoint_mismatch",  # records were rewritten after a signed checkpoint
    "checkpoint_missing_record",  # a checkpoint names a record that is gone (tail truncated)
]


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
        return cls(**{name: row[name] for name in EXPORT_FIELDS})


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # the last record the checkpoint covers
    record_hash: str  # that record's hash
    time: str
    key_id: str
    signature: str  # base64 Ed25519 over canonical_json(signed_body())

    def signed_body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "record_hash": self.record_hash,
            "time": self.time,
            "key_id": self.key_id,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Checkpoint":
        return cls(
            **{name: row[name] for name in ("seq", "record_hash", "time", "key_id", "signature")}
        )


@dataclass(frozen=True)
class ChainProblem:
    kind: ProblemKind
    seq: int | None  # the record (or checkpoint) the problem is located at
    position: int | None  # index of that record in the sequence handed to verify_chain
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "chain"
        if self.position is not None:
            where += f" (position {self.position})"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    records_checked: int
    checkpoints_checked: int
    last_signed_seq: int | None  # highest seq covered by a valid, matching checkpoint
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


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


# -- signing key, kept apart from the database -----------------------------------------------------


def load_or_create_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The checkpoint signing key from `keys_dir`, created (mode 0600) on first use.

    The public half is written beside it so an auditor can verify without the private key.
    """
    path = keys_dir / SIGNING_KEY_FILE
    pem = read_or_create_secret(
        path,
        lambda: Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    read_or_create_secret(keys_dir / PUBLIC_KEY_FILE, lambda: public_key_pem(key.public_key()))
    return key


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- checkpoints -----------------------------------------------------------------------------------


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


# -- verification ----------------------------------------------------------------------------------


def verify_chain(
    records: Iterable[AuditRecord],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
) -> ChainReport:
    """Check a chain in storage order and name every record that was altered, deleted, inserted or
    reordered, and every checkpoint that was forged or no longer matches.

    Without checkpoints an edit whose author recomputed all later hashes is invisible; with them it
    is located between the last checkpoint that still matches and the first one that does not.
    Records appended after the last checkpoint can be truncated unseen: checkpoint often.
    """
    records = list(records)
    checkpoints = sorted(checkpoints, key=lambda c: c.seq)
    problems: list[ChainProblem] = []

    for position, record in enumerate(records):
        if record_hash(record.body()) != record.hash:
            problems.append(
                ChainProblem(
                    "altered", record.seq, position, "fields do not match the record's hash"
                )
            )

    problems += _order_problems(records)
    problems += _link_problems(records)
    checkpoint_problems, last_signed = _checkpoint_problems(records, checkpoints, public_key)
    problems += checkpoint_problems
    return ChainReport(len(records), len(checkpoints), last_signed, problems)


def _order_problems(records: list[AuditRecord]) -> list[ChainProblem]:
    """Records standing out of seq order, and seqs that no record carries."""
    first_positions: dict[int, int] = {}
    for position, record in enumerate(records):
        first_positions.setdefault(record.seq, position)
    positions = sorted(first_positions.values())
    in_order = set(_longest_increasing_run([records[p].seq for p in positions]))
    problems = []
    for index, position in enumerate(positions):
        if index not in in_order:
            seq = records[position].seq
            problems.append(ChainProblem("reordered", seq, position, "stands out of seq order"))
    present = set(first_positions)
    for seq in range(1, max(present, default=0) + 1):
        if seq not in present:
            problems.append(ChainProblem("missing", seq, None, "no record with this seq (deleted)"))
    return problems


def _longest_increasing_run(values: list[int]) -> list[int]:
    """Indexes of one longest strictly increasing subsequence (patience sorting, O(n log n)).

    The records on it are taken as in place; the others are named as moved, so a swap of two
    records names exactly those two.
    """
    tails: list[int] = []  # tails[k] = smallest tail value of an increasing run of length k + 1
    tail_index: list[int] = []
    parent = [-1] * len(values)
    for index, value in enumerate(values):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_index.append(index)
        else:
            tails[k] = value
            tail_index[k] = index
        parent[index] = tail_index[k - 1] if k > 0 else -1
    run = []
    index = tail_index[-1] if tail_index else -1
    while index != -1:
        run.append(index)
        index = parent[index]
    return run[::-1]


def _link_problems(records: list[AuditRecord]) -> list[ChainProblem]:
    """Walk the records in seq order and check every prev_hash; name records that were slipped in.

    Where several records share a seq, the one that hashes correctly and links to the chain is
    taken as genuine and the others are named as inserted.
    """
    candidates: dict[int, list[int]] = {}
    for position, record in enumerate(records):
        candidates.setdefault(record.seq, []).append(position)
    position_of_hash = {}
    for position, record in enumerate(records):
        position_of_hash.setdefault(record.hash, position)

    problems = []
    previous: AuditRecord | None = None
    for seq in sorted(candidates):
        positions = candidates[seq]
        expected_prev = previous.hash if previous is not None and previous.seq == seq - 1 else None
        if seq == 1:
            expected_prev = GENESIS_HASH
        linked_from_next = {records[p].prev_hash for p in candidates.get(seq + 1, [])}

        def trust(
            p: int,
            expected_prev: str | None = expected_prev,
            linked_from_next: set = linked_from_next,
        ) -> tuple[bool, bool, bool]:
            record = records[p]
            return (
                record_hash(record.body()) == record.hash,
                expected_prev is None or record.prev_hash == expected_prev,
                record.hash in linked_from_next,
            )

        chosen = max(positions, key=lambda p: (trust(p), -p))
        for p in positions:
            if p != chosen:
                problems.append(
                    ChainProblem(
                        "inserted", seq, p, f"second record with this seq (kept position {chosen})"
                    )
                )
        record = records[chosen]
        if seq == 1 and record.prev_hash != GENESIS_HASH:
            problems.append(
                ChainProblem("bad_start", seq, chosen, "first record does not start from genesis")
            )
        elif expected_prev is not None and seq != 1 and record.prev_hash != expected_prev:
            linked = position_of_hash.get(record.prev_hash)
            if linked is not None and records[linked].seq < seq - 1:
                # It links past its predecessor to an older record: the predecessor was slipped in.
                problems.append(
                    ChainProblem(
                        "inserted",
                        previous.seq,
                        position_of_hash.get(previous.hash),
                        f"seq {seq} links past it to seq {records[linked].seq}",
                    )
                )
            problems.append(
                ChainProblem(
                    "broken_link",
                    seq,
                    chosen,
                    f"prev_hash does not match the hash of seq {previous.seq}",
                )
            )
        previous = record
    return problems


def _checkpoint_problems(
    records: list[AuditRecord], checkpoints: list[Checkpoint], public_key: Ed25519PublicKey
) -> tuple[list[ChainProblem], int | None]:
    by_seq: dict[int, AuditRecord] = {}
    position_of_seq: dict[int, int] = {}
    for position, record in enumerate(records):
        by_seq.setdefault(record.seq, record)
        position_of_seq.setdefault(record.seq, position)
    problems = []
    last_good: int | None = None
    for checkpoint in checkpoints:
        if not checkpoint_signature_valid(checkpoint, public_key):
            problems.append(
                ChainProblem(
                    "checkpoint_forged",
                    checkpoint.seq,
                    None,
                    "checkpoint signature does not verify",
                )
            )
            continue
        record = by_seq.get(checkpoint.seq)
        if record is None:
            problems.append(
                ChainProblem(
                    "checkpoint_missing_record",
                    checkpoint.seq,
                    None,
                    f"checkpoint signed at {checkpoint.time} covers this seq; the record is gone",
                )
            )
        elif record.hash != checkpoint.record_hash:
            since = last_good + 1 if last_good is not None else 1
            problems.append(
                ChainProblem(
                    "checkpoint_mismatch",
                    checkpoint.seq,
                    position_of_seq[checkpoint.seq],
                    f"chain rewritten after it was signed: a record in seq "
                    f"{since}..{checkpoint.seq} was changed",
                )
            )
        else:
            last_good = checkpoint.seq
    return problems, last_good


# -- export for a SIEM -----------------------------------------------------------------------------


def export_jsonl(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write one JSON object per line (the fields the hash covers, and it); returns the count."""
    count = 0
    for record in records:
        out.write(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
        count += 1
    return count


def export_csv(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write a header and one row per record (`details` as canonical JSON); returns the count."""
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS))
    writer.writeheader()
    count = 0
    for record in records:
        row = record.to_dict()
        row["details"] = canonical_json(row["details"]).decode()
        row["tenant"] = "" if row["tenant"] is None else row["tenant"]
        writer.writerow(row)
        count += 1
    return count


def read_jsonl(lines: Iterable[str]) -> list[AuditRecord]:
    """Records from a JSONL export, in file order (so `verify_chain` can check an export)."""
    return [AuditRecord.from_dict(json.loads(line)) for line in lines if line.strip()]


def read_csv(handle: TextIO) -> list[AuditRecord]:
    """Records from a CSV export, in file order."""
    records = []
    for row in csv.DictReader(handle):
        records.append(
            AuditRecord(
                seq=int(row["seq"]),
                time=row["time"],
                tenant=row["tenant"] or None,
                actor=row["actor"],
                action=row["action"],
                target=row["target"],
                details=json.loads(row["details"]),
                prev_hash=row["prev_hash"],
                hash=row["hash"],
            )
        )
    return records
