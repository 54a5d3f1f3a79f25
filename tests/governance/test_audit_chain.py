"""Try to break the audit chain: edit, delete, insert, reorder records and forge checkpoints."""

from __future__ import annotations

import dataclasses
import io
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gesso.governance.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    append_record,
    prompt_detail,
    record_hash,
)
from gesso.governance.audit_checkpoints import checkpoint_due, make_checkpoint
from gesso.governance.audit_export import export_csv, export_jsonl, read_csv, read_jsonl
from gesso.governance.audit_signing import (
    PUBLIC_KEY_FILE,
    SIGNING_KEY_FILE,
    load_or_create_checkpoint_key,
    load_public_key,
)
from gesso.governance.audit_verification import verify_chain

ACTIONS = ["key.created", "image.generated", "file.uploaded", "finetune.started", "auth.refused"]


def build_chain(key: Ed25519PrivateKey, count: int = 20, every: int = 5):
    records: list[AuditRecord] = []
    checkpoints = []
    for i in range(count):
        record = append_record(
            records[-1] if records else None,
            tenant="acme" if i % 3 else "globex",
            actor=f"key_{i % 4}",
            action=ACTIONS[i % len(ACTIONS)],
            target=f"img_{i}",
            details={"n": i, "size": "64x64"},
        )
        records.append(record)
        if checkpoint_due(record.seq, every):
            checkpoints.append(make_checkpoint(record, key))
    return records, checkpoints


def rehash_from(records: list[AuditRecord], start: int) -> list[AuditRecord]:
    """What an attacker with database access does: recompute every hash from `start` on."""
    out = records[:start]
    for record in records[start:]:
        body = record.body()
        body["prev_hash"] = out[-1].hash if out else GENESIS_HASH
        out.append(AuditRecord(**body, hash=record_hash(body)))
    return out


def kinds_at(report) -> set[tuple[str, int | None]]:
    return {(p.kind, p.seq) for p in report.problems}


@pytest.fixture()
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_untouched_chain_verifies(key):
    records, checkpoints = build_chain(key)
    report = verify_chain(records, checkpoints, key.public_key())
    assert report.ok, report.problems
    assert report.records_checked == 20 and report.checkpoints_checked == 4
    assert report.last_signed_seq == 20
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(records, records[1:], strict=False))


@pytest.mark.parametrize(
    "field_name,value", [("action", "key.revoked"), ("tenant", "evil"), ("details", {"n": 0})]
)
def test_altered_record_is_named(key, field_name, value):
    records, checkpoints = build_chain(key)
    records[7] = dataclasses.replace(records[7], **{field_name: value})
    report = verify_chain(records, checkpoints, key.public_key())
    assert not report.ok
    assert ("altered", 8) in kinds_at(report)
    altered = [p for p in report.problems if p.kind == "altered"]
    assert [(p.seq, p.position) for p in altered] == [(8, 7)]


def test_altered_and_rehashed_record_caught_by_checkpoint(key):
    records, checkpoints = build_chain(key)
    records[7] = dataclasses.replace(records[7], details={"n": 7, "size": "1024x1024"})
    forged = rehash_from(records, 7)
    report = verify_chain(forged, checkpoints, key.public_key())
    # The hashes are self-consistent now: only the signed checkpoints can tell, and they bound it.
    assert not any(p.kind in ("altered", "broken_link") for p in report.problems)
    mismatch = [p for p in report.problems if p.kind == "checkpoint_mismatch"]
    assert mismatch and mismatch[0].seq == 10
    assert "seq 6..10" in mismatch[0].detail
    assert report.last_signed_seq == 5


def test_deleted_record_is_named(key):
    records, checkpoints = build_chain(key)
    del records[11]
    report = verify_chain(records, checkpoints, key.public_key())
    assert ("missing", 12) in kinds_at(report)
    assert not any(p.kind == "altered" for p in report.problems)


def test_deleted_and_renumbered_records_are_caught(key):
    records, checkpoints = build_chain(key)
    del records[11]
    renumbered = records[:11] + [dataclasses.replace(r, seq=r.seq - 1) for r in records[11:]]
    report = verify_chain(renumbered, checkpoints, key.public_key())
    assert ("altered", 12) in kinds_at(report)  # old seq 13, renumbered to 12
    assert ("broken_link", 12) in kinds_at(report)


def test_truncated_tail_is_caught_by_checkpoint(key):
    records, checkpoints = build_chain(key)
    report = verify_chain(records[:17], checkpoints, key.public_key())
    assert ("checkpoint_missing_record", 20) in kinds_at(report)


def test_inserted_record_with_duplicate_seq_is_named(key):
    records, checkpoints = build_chain(key)
    fake = append_record(
        records[4], tenant="acme", actor="intruder", action="model.approved", target="m1"
    )
    records.append(fake)  # a new row with seq 6, hashed and linked like the genuine one
    report = verify_chain(records, checkpoints, key.public_key())
    inserted = [p for p in report.problems if p.kind == "inserted"]
    assert [(p.seq, p.position) for p in inserted] == [(6, 20)]


def test_inserted_record_with_renumbering_is_named(key):
    records, checkpoints = build_chain(key)
    fake = append_record(
        records[4], tenant="acme", actor="intruder", action="model.approved", target="m1"
    )
    tail = [dataclasses.replace(r, seq=r.seq + 1) for r in records[5:]]
    report = verify_chain(records[:5] + [fake] + tail, checkpoints, key.public_key())
    inserted = [p for p in report.problems if p.kind == "inserted"]
    assert [(p.seq, p.position) for p in inserted] == [(6, 5)]


def test_reordered_records_are_named(key):
    records, checkpoints = build_chain(key)
    records[3], records[9] = records[9], records[3]
    report = verify_chain(records, checkpoints, key.public_key())
    reordered = {(p.seq, p.position) for p in report.problems if p.kind == "reordered"}
    assert reordered == {(10, 3), (4, 9)}


def test_swapped_contents_under_same_seqs_are_named(key):
    records, checkpoints = build_chain(key)
    a, b = records[3], records[4]
    records[3] = dataclasses.replace(b, seq=a.seq)
    records[4] = dataclasses.replace(a, seq=b.seq)
    report = verify_chain(records, checkpoints, key.public_key())
    assert {("altered", 4), ("altered", 5)} <= kinds_at(report)


def test_forged_checkpoint_is_rejected(key):
    records, checkpoints = build_chain(key)
    other = Ed25519PrivateKey.generate()
    forged = rehash_from([dataclasses.replace(records[0], actor="nobody")] + records[1:], 0)
    forged_checkpoints = [make_checkpoint(forged[c.seq - 1], other) for c in checkpoints]
    report = verify_chain(forged, forged_checkpoints, key.public_key())
    assert {p.kind for p in report.problems} == {"checkpoint_forged"}
    assert report.last_signed_seq is None
    # A genuine checkpoint with one edited field fails too.
    bent = dataclasses.replace(checkpoints[0], seq=6)
    assert ("checkpoint_forged", 6) in kinds_at(verify_chain(records, [bent], key.public_key()))


def test_signing_key_lives_in_its_own_file(tmp_path):
    key = load_or_create_checkpoint_key(tmp_path / "keys")
    path = tmp_path / "keys" / SIGNING_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = load_or_create_checkpoint_key(tmp_path / "keys")
    records, checkpoints = build_chain(key, count=5)
    public = load_public_key((tmp_path / "keys" / PUBLIC_KEY_FILE).read_bytes())
    assert verify_chain(records, checkpoints, again.public_key()).ok
    assert verify_chain(records, checkpoints, public).ok


def test_exports_round_trip_and_still_verify(key):
    records, checkpoints = build_chain(key)
    jsonl, table = io.StringIO(), io.StringIO()
    assert export_jsonl(records, jsonl) == 20
    assert export_csv(records, table) == 20
    from_jsonl = read_jsonl(jsonl.getvalue().splitlines())
    table.seek(0)
    from_csv = read_csv(table)
    assert from_jsonl == records and from_csv == records
    assert verify_chain(from_csv, checkpoints, key.public_key()).ok
    header = table.getvalue().splitlines()[0]
    assert header == "seq,time,tenant,actor,action,target,details,prev_hash,hash"


def test_edit_in_an_export_is_named(key):
    records, checkpoints = build_chain(key)
    out = io.StringIO()
    export_jsonl(records, out)
    lines = out.getvalue().splitlines()
    lines[2] = lines[2].replace('"actor": "key_2"', '"actor": "key_0"')
    report = verify_chain(read_jsonl(lines), checkpoints, key.public_key())
    assert ("altered", 3) in kinds_at(report)


def test_prompt_is_stored_or_only_hashed():
    assert prompt_detail("a red fox", "store") == {"prompt": "a red fox"}
    hashed = prompt_detail("a red fox", "hash")
    assert "a red fox" not in str(hashed) and len(hashed["prompt_sha256"]) == 64
    with pytest.raises(ValueError):
        prompt_detail("x", "keep")  # type: ignore[arg-type]


def test_details_must_be_json():
    with pytest.raises(TypeError):
        append_record(None, tenant="t", actor="a", action="x", details={"bad": object()})
