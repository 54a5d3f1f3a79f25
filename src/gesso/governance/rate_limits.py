"""Request rate limits: a token bucket per key (and per source address for failed
authentications), refilled continuously.

The bucket maths is a pure function. `KeyRateLimiter` keeps the buckets of one process (the
embedded single-machine default); `SharedKeyRateLimiter` keeps them in the database, so replicas
behind a load balancer spend from one bucket per key.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Engine

from gesso.store.rate_buckets import spend_shared_token


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


class SharedKeyRateLimiter:
    """Buckets by key id in the database (`store.rate_buckets`), one per key for all replicas."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def retry_after(self, key_id: str, per_minute: int, now: float | None = None) -> int:
        now = time.time() if now is None else now

        def refill(tokens: float | None, updated: float | None) -> tuple[float, float]:
            bucket = None if tokens is None or updated is None else Bucket(tokens, min(updated, now))
            after, wait = take_token(bucket, now, per_minute)
            return after.tokens, wait

        wait = spend_shared_token(self.engine, f"key:{key_id}", now, refill)
        return 0 if wait == 0 else max(1, math.ceil(wait))


class SourceRateLimiter:
    """Token buckets by source address for requests that failed to authenticate.

    Memory is bounded: past `max_sources` addresses the least recently seen bucket is dropped
    (a dropped address starts again with a full bucket, which is no more than a new address gets).
    """

    def __init__(self, per_minute: int, max_sources: int = 10_000) -> None:
        self.per_minute = max(1, per_minute)
        self.max_sources = max(1, max_sources)
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, source: str, now: float | None = None) -> int:
        """Spend one of the address's tokens: 0 if one was there, else whole seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket, wait = take_token(self._buckets.pop(source, None), now, self.per_minute)
            self._buckets[source] = bucket
            while len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
        return 0 if wait == 0 else max(1, math.ceil(wait))

    def __len__(self) -> int:
        return len(self._buckets)
