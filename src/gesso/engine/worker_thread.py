"""The thread under each worker (image jobs, fine-tunes): start, sleep when idle, wake, stop."""

from __future__ import annotations

import threading
from typing import Callable


class WorkerThread:
    """A daemon thread running a worker's loop. The loop checks `stopping` and calls `idle()`
    when the queue had nothing for it; `wake()` cuts that sleep short (a job was queued)."""

    def __init__(self, name: str, poll_seconds: float):
        self.name = name
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, loop: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def idle(self, seconds: float | None = None) -> bool:
        """Sleep until `wake()` is called or `seconds` (default `poll_seconds`) pass; False once
        the loop is told to stop."""
        self._wake.wait(self.poll_seconds if seconds is None else seconds)
        self._wake.clear()
        return not self.stopping.is_set()

    def stop(self, timeout: float) -> None:
        """Tell the loop to end, wake it, and wait up to `timeout` seconds for it."""
        self.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
