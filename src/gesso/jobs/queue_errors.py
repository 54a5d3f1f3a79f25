"""Errors of the job queues: full, overloaded, or their storage unavailable for a moment."""

from __future__ import annotations


class QueueFull(RuntimeError):
    """The bounded queue holds as many jobs as it may; the caller should retry later."""

    def __init__(self, depth: int, retry_after: int):
        super().__init__(f"the job queue is full ({depth} jobs waiting); retry later")
        self.depth = depth
        self.retry_after = retry_after


class QueueOverloaded(RuntimeError):
    """A synchronous request would wait longer than the server's bound; retry later (or send it
    with `background: true`)."""

    def __init__(self, expected_wait_s: float, bound_s: float, retry_after: int):
        super().__init__(
            f"the server is overloaded: a new request would wait about {expected_wait_s:.0f}s "
            f"(the bound is {bound_s:.0f}s); retry later or send it with background=true"
        )
        self.expected_wait_s = expected_wait_s
        self.retry_after = retry_after


class QueueUnavailable(RuntimeError):
    """The queue's storage cannot be written just now (locked, unreachable); nothing was lost:
    the job stays leased to this worker until the lease lapses, then runs again."""
