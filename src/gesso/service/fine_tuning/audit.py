"""The fine-tuning API's audit records: file uploaded, file deleted (with what went with it),
fine-tune started. One call site per event, through `governance.audit_events`."""

from __future__ import annotations

import logging

from gesso.governance import audit_events
from gesso.governance.authorisation import Principal
from gesso.service.runtime.app_state import ServiceState

log = logging.getLogger("gesso.audit")


def _append(state: ServiceState, write, *args, **kwargs) -> None:  # noqa: ANN001
    """Write after the change has committed; a failed write is logged, never undoes the change."""
    if state.governance is None:
        return
    try:
        write(state.governance.audit, *args, **kwargs)
    except Exception:
        log.exception("could not write the audit record %s", write.__name__)


def file_uploaded(state: ServiceState, principal: Principal, file_id: str, purpose: str, size: int, sha256: str) -> None:
    _append(state, audit_events.record_file_uploaded, principal.tenant_id, audit_events.key_actor(principal.key_id),
            file_id, purpose=purpose, size_bytes=size, sha256=sha256)


def file_deleted(state: ServiceState, principal: Principal, file_id: str, derived: list[str]) -> None:
    _append(state, audit_events.record_file_deleted, principal.tenant_id, audit_events.key_actor(principal.key_id),
            file_id, derived)


def fine_tune_started(state: ServiceState, principal: Principal, job_id: str, base_model: str, training_file: str) -> None:
    _append(state, audit_events.record_fine_tune_started, principal.tenant_id,
            audit_events.key_actor(principal.key_id), job_id, base_model=base_model, training_file=training_file)
