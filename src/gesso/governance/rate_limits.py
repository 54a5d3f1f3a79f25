"""Per-key request rate limits: a token bucket per key, refilled continuously.

The bucket maths is a pure function; `KeyRateLimiter` only keeps the buckets of one process
(behind a load balancer, each replica limits on its own share).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    tokens: float
    updated: float


def take_token(bucket: Bucket | None, now: float, per_minute: int) -> tuple[Bucket, float]:
    """Spend one token; returns the new bucket and 0, or the old bucket and the seconds until a
    token is there. Capacity is `per_minute` (a full minute's burst)."""
    rate = per_minute / 60.0
    if bucket is None:
        bucket = Bucket(float(per_minute), now)
    tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), 0.0
    return Bucket(tokens, now), (1.0 - tokens) / rate


class KeyRateLimiter:
    """Thread-safe buckets by key id."""

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def retry_after(self, key_id: str, per_minute: int, now: float | None = None) -> int:
        """0 if the request may go ahead (a token is spent), else whole seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket, wait = take_token(self._buckets.get(key_id), now, per_minute)
            self._buckets[key_id] = bucket
        return 0 if wait == 0 else max(1, math.ceil(wait))
