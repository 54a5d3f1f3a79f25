"""The audit chain holds only valid JSON: canonical JSON refuses non-finite numbers, and a record's
details keep such a value (or a lone surrogate) as text, so a bug cannot write `Infinity`."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gesso.governance.audit_chain import AuditRecord, append_record, canonical_json, record_hash
from gesso.governance.audit_verification import verify_chain


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), {"a": [1, float("inf")]}])
def test_canonical_json_refuses_non_finite_numbers(value):
    with pytest.raises(ValueError):
        canonical_json(value)


def test_record_details_with_non_finite_numbers_are_kept_as_text():
    record = append_record(
        None, tenant="t", actor="a", action="settings.changed", target="x\ud800",
        details={"after": {"days": float("inf"), "low": float("-inf"), "odd": float("nan")}, "\udfff": "a\ud800"},
    )
    text = json.dumps(record.to_dict(), allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # every string encodable
    assert record.details["after"] == {"days": "Infinity", "low": "-Infinity", "odd": "NaN"}
    assert record_hash(record.body()) == record.hash


def test_a_record_written_before_non_finite_numbers_were_refused_still_verifies():
    body = {"seq": 1, "time": "2026-01-01T00:00:00.000000+00:00", "tenant": "t", "actor": "a",
            "action": "settings.changed", "target": "", "details": {"days": float("inf")}, "prev_hash": "0" * 64}
    legacy_hash = record_hash(body)
    report = verify_chain([AuditRecord(**body, hash=legacy_hash)], [], Ed25519PrivateKey.generate().public_key())
    assert report.ok, report.problems
