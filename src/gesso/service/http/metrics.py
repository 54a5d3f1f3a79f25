"""Prometheus metrics: requests and latencies, queue depth and expected wait, batch sizes,
images per second.

Each app has its own registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

IMAGE_RATE_WINDOW_S = 60.0


class _QueueDepthCollector(Collector):
    """Reads queued/running counts from the database at scrape time."""

    def __init__(self, read_depth: Callable[[], dict[str, int]]):
        self.read_depth = read_depth

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("gesso_queue_depth", "Jobs waiting or running, by status", labels=["status"])
        try:
            for status, count in self.read_depth().items():
                family.add_metric([status], count)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is busy
            pass
        yield family


class _ExpectedWaitCollector(Collector):
    """Images ahead in the queue times the measured seconds per image, at scrape time."""

    def __init__(self, read_expected_wait: Callable[[], float]):
        self.read_expected_wait = read_expected_wait

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "gesso_queue_expected_wait_seconds",
            "Expected wait of a new request: images queued or running x measured seconds per image",
        )
        try:
            family.add_metric([], self.read_expected_wait())
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is busy
            pass
        yield family


class ServiceMetrics:
    def __init__(
        self,
        read_queue_depth: Callable[[], dict[str, int]],
        read_expected_wait: Callable[[], float] | None = None,
    ):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gesso_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "gesso_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=self.registry,
        )
        self.batch_size = Histogram(
            "gesso_batch_size_images", "Images per pipeline call", buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.images = Counter("gesso_images_generated", "Images generated", registry=self.registry)
        self.images_per_second = Gauge(
            "gesso_images_per_second", f"Images finished per second over the last {IMAGE_RATE_WINDOW_S:.0f} s",
            registry=self.registry,
        )
        self.images_per_second.set_function(self._recent_rate)
        self.registry.register(_QueueDepthCollector(read_queue_depth))
        if read_expected_wait is not None:
            self.registry.register(_ExpectedWaitCollector(read_expected_wait))
        self._recent: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def observe_images(self, count: int) -> None:
        self.images.inc(count)
        with self._lock:
            self._recent.append((time.monotonic(), count))

    def _recent_rate(self) -> float:
        cutoff = time.monotonic() - IMAGE_RATE_WINDOW_S
        with self._lock:
            while self._recent and self._recent[0][0] < cutoff:
                self._recent.popleft()
            return sum(count for _, count in self._recent) / IMAGE_RATE_WINDOW_S

    def render(self) -> bytes:
        return generate_latest(self.registry)
