"""Writes this process's image worker figure (`ExpectedWait`) to the database, so that every
replica's admission sees it: at once after each run, and every `every_s` while the worker lives,
so a long run does not make a busy worker look gone. Writes happen on a thread of their own,
never in the worker's path; a stopped reporter removes its row."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from gesso.service.runtime.expected_wait import FRESH_S, ExpectedWait
from gesso.store.worker_throughput import forget_throughput, record_throughput

log = logging.getLogger("gesso.worker")


class ThroughputReporter:
    """`observe` is the worker observer's throughput hook; `start` / `stop` bracket the worker."""

    def __init__(self, sessions: sessionmaker[Session], owner: str, measure: ExpectedWait | None = None,
                 every_s: float = FRESH_S / 4):
        self.sessions, self.owner, self.every_s = sessions, owner, every_s
        self.measure = measure or ExpectedWait()
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="gesso-throughput", daemon=True)

    def observe(self, images: int, seconds: float) -> None:
        self.measure.observe(images, seconds)
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)
        try:
            with self.sessions.begin() as session:
                forget_throughput(session, self.owner)
        except Exception:  # noqa: BLE001 - the row goes stale on its own
            log.warning("could not remove this worker's throughput row", exc_info=True)

    def write(self) -> None:
        """Store the current figure (nothing before the first run)."""
        figure = self.measure.seconds_per_image
        if figure is None:
            return
        with self.sessions.begin() as session:
            record_throughput(session, self.owner, figure, time.time())

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.every_s)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.write()
            except Exception:  # noqa: BLE001 - the database may be away for a while; never end
                log.warning("could not write this worker's throughput", exc_info=True)
