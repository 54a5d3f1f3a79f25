"""How long a new request would wait: the images ahead of it in the queue times the seconds per
image the image workers have measured (their runs, batched as they run).

Each worker keeps a moving average of its own runs (`ExpectedWait`) and writes it to the database
(`throughput_reporter.py`); every replica reads the workers seen within `fresh_s` and combines
them (`SharedExpectedWait`), so an API-only replica admits and reports as the worker's own does.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from sqlalchemy.orm import Session, sessionmaker

from gesso.store.worker_throughput import live_throughputs

SMOOTHING = 0.3  # weight of the newest run in the moving average
FRESH_S = 60.0  # a worker whose figure was not written for this long is gone (or stuck): ignored
CACHE_S = 2.0  # how long a replica reuses the figure it read (admission runs on every request)


class ExpectedWait:
    """One worker's own figure. Thread-safe; fed by the worker (`observe`)."""

    def __init__(self, smoothing: float = SMOOTHING):
        self.smoothing = smoothing
        self._seconds_per_image: float | None = None
        self._lock = threading.Lock()

    def observe(self, images: int, seconds: float) -> None:
        """A run of `images` images took `seconds` (all its batches, encoding included)."""
        if images <= 0 or seconds < 0:
            return
        sample = seconds / images
        with self._lock:
            previous = self._seconds_per_image
            self._seconds_per_image = sample if previous is None else previous + self.smoothing * (sample - previous)

    @property
    def seconds_per_image(self) -> float | None:
        """None until the worker has finished a run."""
        return self._seconds_per_image

    def seconds_for(self, images_ahead: int) -> float:
        """Expected seconds until `images_ahead` images are done (0 before any measurement:
        nothing is refused on a guess)."""
        return wait_for(images_ahead, self._seconds_per_image)


def combined_seconds_per_image(figures: list[float]) -> float | None:
    """Workers run side by side: their throughputs (images per second) add up, so the queue
    drains at one image every 1 / sum(1 / s) seconds. None when no worker has a figure."""
    rates = [1.0 / s for s in figures if s > 0]
    return 1.0 / sum(rates) if rates else None


def wait_for(images_ahead: int, seconds_per_image: float | None) -> float:
    """0 without a figure: nothing is refused on a guess."""
    return 0.0 if seconds_per_image is None else images_ahead * seconds_per_image


class SharedExpectedWait:
    """The figure of every live worker, read from the database at most every `cache_s`; with
    `local` (a worker in this process, whose row is `owner`) its figure counts as it is now."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        local: ExpectedWait | None = None,
        owner: str | None = None,
        fresh_s: float = FRESH_S,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.time,
    ):
        self.sessions, self.local, self.owner = sessions, local, owner
        self.fresh_s, self.cache_s, self.clock = fresh_s, cache_s, clock
        self._others: list[float] = []
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def _other_workers(self) -> list[float]:
        now = self.clock()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self.cache_s:
                return self._others
        with self.sessions() as session:
            others = live_throughputs(session, now - self.fresh_s, excluding=self.owner)
        with self._lock:
            self._others, self._read_at = others, now
        return others

    @property
    def seconds_per_image(self) -> float | None:
        """The deployment's seconds per image; None until some live worker has measured."""
        figures = list(self._other_workers())
        if self.local is not None and self.local.seconds_per_image is not None:
            figures.append(self.local.seconds_per_image)
        return combined_seconds_per_image(figures)

    def seconds_for(self, images_ahead: int) -> float:
        """Expected seconds until `images_ahead` images are done across all live workers."""
        return wait_for(images_ahead, self.seconds_per_image if images_ahead > 0 else None)
