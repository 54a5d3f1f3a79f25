"""Audit chains for a SIEM: JSONL and CSV exports, and reading them back for verification."""

from __future__ import annotations

import csv
import json
from typing import Iterable, TextIO

from gesso.governance.audit_chain import RECORD_FIELDS, AuditRecord, canonical_json


def export_jsonl(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write one JSON object per line (the fields the hash covers, and it); returns the count."""
    count = 0
    for record in records:
        out.write(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
        count += 1
    return count


def export_csv(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write a header and one row per record (`details` as canonical JSON); returns the count."""
    writer = csv.DictWriter(out, fieldnames=list(RECORD_FIELDS))
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
    return [
        AuditRecord.from_dict({
            **row,
            "seq": int(row["seq"]),
            "tenant": row["tenant"] or None,
            "details": json.loads(row["details"]),
        })
        for row in csv.DictReader(handle)
    ]
