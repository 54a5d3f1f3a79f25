"""Governance work that runs for as long as the server does: the retention sweep, and a signed
checkpoint of every audit chain at shutdown (so the tail cannot be truncated unseen)."""

from __future__ import annotations

import logging
from typing import Callable

from gesso.governance.retention import RetentionSweeper, sweep_retention

log = logging.getLogger("gesso.governance")


def start_governance(state) -> Callable[[], None]:  # noqa: ANN001 - ServiceState
    """Start the background work; returns the function that stops it."""
    governance = state.governance
    sweeper = RetentionSweeper(
        lambda: sweep_retention(state.sessions, state.blobs, governance.audit), state.settings.retention_sweep_every_s
    )
    sweeper.start()

    def stop() -> None:
        sweeper.stop()
        try:
            governance.audit.checkpoint_all()
        except Exception:  # noqa: BLE001
            log.exception("could not sign the final audit checkpoints")

    return stop
