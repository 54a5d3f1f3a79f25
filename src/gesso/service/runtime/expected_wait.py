"""How long a new request would wait: the images ahead of it in the queue times a moving
average of the seconds per image the worker has measured (its runs, batched as they run)."""

from __future__ import annotations

import threading

SMOOTHING = 0.3  # weight of the newest run in the moving average


class ExpectedWait:
    """Thread-safe; fed by the worker (`observe`), read by admission and `/metrics`."""

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
        per_image = self._seconds_per_image
        return 0.0 if per_image is None else images_ahead * per_image
