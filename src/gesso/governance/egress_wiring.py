"""Turn the egress guard on for a Gesso process: loopback, the listen address and the configured
database / object store / cluster endpoints are allowed; every other attempt is blocked (strict,
the default) or only recorded (monitor), and written to the deployment audit chain."""

from __future__ import annotations

import queue
import threading

from sqlalchemy.engine import make_url

from gesso.governance.audit_events import EGRESS_BLOCKED
from gesso.governance.audit_log import AuditLog
from gesso.governance.egress_guard import EgressAttempt, enable_egress_guard
from gesso.settings import Settings


def allowed_endpoints(settings: Settings) -> list[str]:
    """The configured endpoints, the database server's host:port, the listen address and the
    Ray cluster's head."""
    endpoints = list(settings.egress_allowed_endpoints)
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        url = make_url(settings.database_url)
        if url.host:
            endpoints.append(f"{url.host}:{url.port}" if url.port else url.host)
    endpoints.append(f"{settings.host}:{settings.port}")
    if settings.ray_address:  # the cluster's head: a Ray-engine worker talks to it
        endpoints.append(settings.ray_address.removeprefix("ray://").split("/")[0])
    return endpoints


class EgressAuditWriter:
    """Writes blocked attempts from a thread of its own: the blocked call may come from a thread
    that holds a database write lock, which the record's own transaction would wait on."""

    def __init__(self, audit: AuditLog):
        self.audit = audit
        self._attempts: queue.Queue[EgressAttempt] = queue.Queue(maxsize=10_000)
        threading.Thread(target=self._drain, name="gesso-egress-audit", daemon=True).start()

    def __call__(self, attempt: EgressAttempt) -> None:
        try:
            self._attempts.put_nowait(attempt)
        except queue.Full:  # a flood of attempts must not block the caller; the first 10k are kept
            pass

    def _drain(self) -> None:
        while True:
            attempt = self._attempts.get()
            self.audit.append_quietly(
                tenant=None, actor="egress-guard", action=EGRESS_BLOCKED,
                target=f"{attempt.host}:{attempt.port if attempt.port is not None else '*'}",
                details={**attempt.audit_details(), "mode": "strict" if attempt.blocked else "monitor",
                         "attempted_at": attempt.time},
            )


def guard_process_egress(settings: Settings, audit: AuditLog) -> None:
    """Enable the guard for this process; ValueError for a malformed endpoint or mode."""
    enable_egress_guard(allowed_endpoints(settings), on_block=EgressAuditWriter(audit), mode=settings.egress_mode)  # type: ignore[arg-type]
