"""Verify a chain: name every record altered, deleted, inserted or reordered, and every checkpoint
that was forged or no longer matches the records it signed."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Iterable, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gesso.governance.audit_chain import GENESIS_HASH, AuditRecord, record_hash
from gesso.governance.audit_checkpoints import Checkpoint, checkpoint_signature_valid

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
