"""The heartbeat of a job a worker runs: renew its lease every few seconds on a thread of its own,
and say when the queue answers that the job is no longer this worker's."""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("gesso.worker")


class LeaseHeartbeat:
    """`with LeaseHeartbeat(renew, every_s) as beat:` renews while the block runs; `beat.lost`
    is set once `renew()` returns False. A renewal that raises is retried at the next beat
    (the lease outlasts a few missed ones)."""

    def __init__(self, renew: Callable[[], bool], every_s: float, name: str = "gesso-lease-heartbeat"):
        self.renew = renew
        self.every_s = every_s
        self.lost = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def __enter__(self) -> "LeaseHeartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(5.0)

    def _beat(self) -> None:
        while not self._stopping.wait(self.every_s):
            try:
                held = self.renew()
            except Exception:  # noqa: BLE001 - the next beat is the retry
                log.warning("could not renew a lease", exc_info=True)
                continue
            if not held:
                self.lost.set()
                return
