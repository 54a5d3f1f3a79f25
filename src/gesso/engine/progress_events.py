"""Progress events from the worker thread to the requests waiting on a job (SSE, sync waits).

Subscribers live on an asyncio loop; the worker publishes from its own thread, so delivery goes
through `loop.call_soon_threadsafe`. Nothing here is durable: a client that misses an event can
always read the job from the database.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PartialImage:
    job_id: str
    image_index: int
    partial_index: int
    data: bytes  # PNG


@dataclass(frozen=True)
class JobFinished:
    job_id: str
    succeeded: bool


JobEvent = PartialImage | JobFinished


class JobEvents:
    """Per-job fan-out of progress events to asyncio queues."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Queue, bool]]] = {}

    def subscribe(self, job_id: str, partials: bool = False) -> asyncio.Queue:
        """Call on the event loop; `partials` asks for partial images as well as the end."""
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            self._subscribers.setdefault(job_id, []).append((asyncio.get_running_loop(), queue, partials))
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue) -> None:
        with self._lock:
            rest = [s for s in self._subscribers.get(job_id, []) if s[1] is not queue]
            if rest:
                self._subscribers[job_id] = rest
            else:
                self._subscribers.pop(job_id, None)

    def wants_partials(self, job_id: str) -> bool:
        with self._lock:
            return any(s[2] for s in self._subscribers.get(job_id, []))

    def publish(self, event: JobEvent) -> None:
        """Thread-safe; events for jobs nobody watches are dropped."""
        with self._lock:
            targets = list(self._subscribers.get(event.job_id, []))
        for loop, queue, partials in targets:
            if isinstance(event, PartialImage) and not partials:
                continue
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the loop has closed: its request is gone
                pass
