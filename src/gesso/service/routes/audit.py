"""`GET /v1/audit` (Gesso extension): the caller's tenant's audit chain, for auditors, admins and
SIEM collectors. Records come with their hashes, so a collector can verify what it received.
`GET /v1/audit/verify` runs the chain verifier of `gesso audit verify` on the tenant's chain."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from gesso.governance.audit_log import audit_public_key, query_records, verify_stored_chains
from gesso.governance.authorisation import Principal
from gesso.governance.roles import Action
from gesso.jobs.request_errors import BadRequest
from gesso.service.app_state import get_state
from gesso.service.auth_dependency import require
from gesso.service.client_types import ID_PATTERN, MAX_NAME_CHARS
from gesso.service.finetune_schemas import cursor_page

router = APIRouter(prefix="/v1/audit", tags=["audit"])
MAX_LIMIT = 1000
MAX_SEQ = 2**63 - 1  # the database's integer range


def utc_bound(text: str | None, param: str) -> str | None:
    """An ISO 8601 time (or Unix seconds) -> the stored records' UTC text form; BadRequest if bad,
    out of `datetime`'s range (years 1-9999) or not finite."""
    if text is None:
        return None
    try:
        moment = _utc_moment(text)
    except (ValueError, OverflowError, OSError):
        raise BadRequest(f"{param} must be an ISO 8601 time or Unix seconds within years 1-9999", param) from None
    return moment.isoformat(timespec="microseconds")


def _utc_moment(text: str) -> datetime:
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    if not math.isfinite(seconds):
        raise ValueError("not a finite number")
    return datetime.fromtimestamp(seconds, timezone.utc)


@router.get("", summary="Read your organisation's audit log (auditor or admin)")
def read_audit(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.AUDIT_READ))],
    action: Annotated[
        str | None,
        Query(max_length=MAX_NAME_CHARS, pattern=ID_PATTERN, description="Only records of this action, e.g. image.generated"),
    ] = None,
    since: Annotated[str | None, Query(max_length=64, description="ISO 8601 or Unix seconds, inclusive")] = None,
    until: Annotated[str | None, Query(max_length=64, description="ISO 8601 or Unix seconds, exclusive")] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Only records with seq above this (paging)")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"1-{MAX_LIMIT}")] = 100,
) -> dict:
    state = get_state(request)
    since_text, until_text = utc_bound(since, "since"), utc_bound(until, "until")
    with state.sessions() as session:
        records = query_records(
            session, principal.tenant_id, action=action, since=since_text,
            until=until_text, after_seq=after, limit=limit + 1,
        )
    return cursor_page(records, limit, lambda record: record.to_dict())


@router.get("/verify", summary="Verify your organisation's audit chain (auditor or admin)")
def verify_audit(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.AUDIT_READ))],
) -> dict:
    audit = get_state(request).governance.audit
    try:
        public_key = audit_public_key(audit.keys_dir)
    except FileNotFoundError:  # nothing was ever signed yet: the key is made on first use
        public_key = audit.signing_key.public_key()
    with audit.sessions() as session:
        (verification,) = verify_stored_chains(session, public_key, principal.tenant_id)
    report = verification.report
    return {
        "object": "audit.verification",
        "intact": report.ok,
        "records": report.records_checked,
        "checkpoints": report.checkpoints_checked,
        "last_signed_seq": report.last_signed_seq,
        "problems": [
            {"seq": problem.seq, "position": problem.position, "problem": problem.kind, "detail": problem.detail}
            for problem in report.problems
        ],
    }
