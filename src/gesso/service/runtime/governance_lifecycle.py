"""Governance work that runs for as long as the server does: the retention sweep, the summaries
of repeated refusals whose window closed, and at shutdown the last summaries and a signed
checkpoint of every audit chain (so the tail cannot be truncated unseen)."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from gesso.governance.retention import RetentionSweeper, sweep_retention
from gesso.service.http.refusal_audit import write_refusals

log = logging.getLogger("gesso.governance")


def start_governance(state) -> Callable[[], None]:  # noqa: ANN001 - ServiceState
    """Start the background work; returns the function that stops it."""
    governance = state.governance
    sweeper = RetentionSweeper(
        lambda: sweep_retention(state.sessions, state.blobs, governance.audit), state.settings.retention_sweep_every_s
    )
    sweeper.start()
    stopping = threading.Event()

    def flush_refusals() -> None:
        # a closed window's summary is written here even when no later refusal comes to close it
        every = max(1.0, state.refusals.window_s / 2)
        while not stopping.wait(every):
            try:
                write_refusals(state, state.refusals.flush())
            except Exception:  # noqa: BLE001 - never end the thread
                log.exception("could not write refusal summaries")

    flusher = threading.Thread(target=flush_refusals, name="gesso-refusal-summaries", daemon=True)
    flusher.start()

    def stop() -> None:
        sweeper.stop()
        stopping.set()
        flusher.join(5)
        try:
            write_refusals(state, state.refusals.flush(everything=True))
        except Exception:  # noqa: BLE001
            log.exception("could not write the last refusal summaries")
        try:
            governance.audit.checkpoint_all()
        except Exception:  # noqa: BLE001
            log.exception("could not sign the final audit checkpoints")

    return stop
