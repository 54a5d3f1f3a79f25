"""The audit log as stored: one chain per tenant plus the deployment's, signed checkpoints, and
`gesso audit verify` / `gesso audit export` finding every edit made straight in the database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from gesso.cli import app
from gesso.governance.audit_chain import append_record
from gesso.governance.audit_log import AuditLog, chain_checkpoints, chain_records, verify_stored_chains
from gesso.governance.audit_log import audit_public_key
from gesso.settings import get_settings
from gesso.store.database import database_url, open_database
from gesso.store.tables import AuditRecordRow

TENANT = "ten_acme"


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GESSO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GESSO_AUDIT_CHECKPOINT_EVERY", "4")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture()
def logged(data_dir):
    """A database with 10 records in the tenant's chain and 3 in the deployment chain."""
    sessions = open_database(database_url(data_dir))
    audit = AuditLog(sessions, data_dir / "keys", checkpoint_every=4)
    for i in range(10):
        audit.append(tenant=TENANT, actor="key:k1", action="image.generated", target=f"job_{i}", details={"i": i})
    for i in range(3):
        audit.append(tenant=None, actor="cli", action="tenant.created", target=f"ten_{i}")
    return sessions, audit


def verify(*args: str):
    return CliRunner().invoke(app, ["audit", "verify", *args])


def test_chains_are_per_tenant_and_checkpoints_are_signed(logged, data_dir):
    sessions, audit = logged
    with sessions() as session:
        assert [r.seq for r in chain_records(session, TENANT)] == list(range(1, 11))
        assert [r.seq for r in chain_records(session, "deployment")] == [1, 2, 3]
        assert [c.seq for c in chain_checkpoints(session, TENANT)] == [4, 8]
    assert audit.checkpoint_all() == 2  # the tails: tenant seq 10, deployment seq 3
    assert not (data_dir / "gesso.db").read_bytes().count(b"PRIVATE KEY")  # the key stays apart
    with sessions() as session:
        reports = verify_stored_chains(session, audit_public_key(data_dir / "keys"))
    assert [(v.chain, v.report.ok) for v in reports] == [("deployment", True), (TENANT, True)]
    result = verify()
    assert result.exit_code == 0, result.output
    assert f"{TENANT}: ok (10 records" in result.output


def _rows(sessions):
    with sessions() as session:
        return session.scalars(select(AuditRecordRow).where(AuditRecordRow.chain == TENANT).order_by(AuditRecordRow.id)).all()


def test_altered_record_is_named(logged):
    sessions, _ = logged
    with sessions.begin() as session:
        session.execute(
            update(AuditRecordRow).where(AuditRecordRow.chain == TENANT, AuditRecordRow.seq == 6)
            .values(details_json=json.dumps({"i": 99}))
        )
    result = verify()
    assert result.exit_code == 1
    assert "seq 6 (position 5): altered" in result.output
    assert "deployment: ok" in result.output


def test_altered_and_rehashed_record_is_caught_by_the_checkpoint(logged):
    sessions, _ = logged
    rows = _rows(sessions)
    previous = None
    rewritten = []
    for row in rows:  # rewrite seq 2 and recompute every later hash, as an attacker with the db could
        details = {"i": 42} if row.seq == 2 else json.loads(row.details_json)
        record = append_record(previous, tenant=row.tenant, actor=row.actor, action=row.action, target=row.target,
                               details=details, time=row.time)
        rewritten.append(record)
        previous = record
    with sessions.begin() as session:
        for row, record in zip(rows, rewritten):
            session.execute(update(AuditRecordRow).where(AuditRecordRow.id == row.id).values(
                details_json=json.dumps(record.details), prev_hash=record.prev_hash, hash=record.hash))
    result = verify()
    assert result.exit_code == 1
    assert "checkpoint_mismatch" in result.output and "seq 1..4" in result.output


def test_deleted_record_is_named(logged):
    sessions, _ = logged
    with sessions.begin() as session:
        session.execute(delete(AuditRecordRow).where(AuditRecordRow.chain == TENANT, AuditRecordRow.seq == 3))
    result = verify("--tenant", TENANT)
    assert result.exit_code == 1
    assert "seq 3: missing" in result.output
    assert "deployment" not in result.output  # --tenant checks that chain only


def test_inserted_record_is_named(logged):
    sessions, _ = logged
    rows = _rows(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditRecordRow).where(AuditRecordRow.chain == TENANT))
        for row in rows:
            if row.seq == 6:  # slip a correctly hashed record in after seq 5 and renumber the rest
                fake = append_record(None, tenant=TENANT, actor="intruder", action="model.approved", target="m")
                prev = next(r for r in rows if r.seq == 5)
                fake = append_record(
                    type(fake)(**{**fake.to_dict(), "seq": 5, "hash": prev.hash}),
                    tenant=TENANT, actor="intruder", action="model.approved", target="m",
                )
                session.add(AuditRecordRow(chain=TENANT, seq=6, time=fake.time, tenant=TENANT, actor=fake.actor,
                                           action=fake.action, target=fake.target, details_json="{}",
                                           prev_hash=fake.prev_hash, hash=fake.hash))
            session.add(AuditRecordRow(
                chain=TENANT, seq=row.seq + (1 if row.seq >= 6 else 0), time=row.time, tenant=row.tenant,
                actor=row.actor, action=row.action, target=row.target, details_json=row.details_json,
                prev_hash=row.prev_hash, hash=row.hash))
    result = verify()
    assert result.exit_code == 1
    assert "seq 6 (position 5): inserted" in result.output


def test_reordered_records_are_named(logged):
    sessions, _ = logged
    rows = _rows(sessions)
    a, b = rows[2], rows[7]  # seq 3 and seq 8 trade places in storage order
    with sessions.begin() as session:
        session.execute(update(AuditRecordRow).where(AuditRecordRow.id == a.id).values(id=-1))
        session.execute(update(AuditRecordRow).where(AuditRecordRow.id == b.id).values(id=a.id))
        session.execute(update(AuditRecordRow).where(AuditRecordRow.id == -1).values(id=b.id))
    result = verify()
    assert result.exit_code == 1
    assert "seq 8 (position 2): reordered" in result.output
    assert "seq 3 (position 7): reordered" in result.output


def test_export_round_trips_and_an_edited_export_is_named(logged, tmp_path):
    runner = CliRunner()
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"audit.{fmt}"
        result = runner.invoke(app, ["audit", "export", "--format", fmt, "--tenant", TENANT, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert verify("--export", str(out)).exit_code == 0
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 10
    edited = json.loads(lines[4])
    edited["actor"] = "someone else"
    lines[4] = json.dumps(edited)
    (tmp_path / "audit.jsonl").write_text("\n".join(lines) + "\n")
    result = verify("--export", str(tmp_path / "audit.jsonl"))
    assert result.exit_code == 1 and "seq 5 (position 4): altered" in result.output


def test_bad_input_exits_2(logged, tmp_path):
    assert verify("--tenant", "nobody").exit_code == 2
    assert verify("--export", str(tmp_path / "missing.jsonl")).exit_code == 2
    (tmp_path / "junk.jsonl").write_text("{not json\n")
    assert verify("--export", str(tmp_path / "junk.jsonl")).exit_code == 2
    assert CliRunner().invoke(app, ["audit", "export", "--format", "xml"]).exit_code == 2


def test_verify_without_a_key_is_bad_input(data_dir):
    open_database(database_url(data_dir))
    result = verify()
    assert result.exit_code == 2


def test_concurrent_appends_never_fork_a_chain(data_dir):
    import threading

    sessions = open_database(database_url(data_dir))
    logs = [AuditLog(sessions, data_dir / "keys", 5) for _ in range(3)]  # as if three processes

    def write(log):
        for i in range(10):
            log.append(tenant=TENANT, actor="t", action="x", target=str(i))

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        assert [r.seq for r in chain_records(session, TENANT)] == list(range(1, 31))
        (report,) = verify_stored_chains(session, audit_public_key(data_dir / "keys"), TENANT)
        assert report.report.ok, report.report.problems
        assert session.execute(text("select count(*) from audit_checkpoints")).scalar() == 6
