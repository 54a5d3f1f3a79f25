"""The queue interface the worker pulls from; the database-backed queue in `store` implements it
(and a Ray-backed deployment can implement it the same way)."""

from __future__ import annotations

from typing import Protocol

from gesso.engine.jobs import ClaimedJob, FinishedImage


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


class JobQueue(Protocol):
    def claim_batch(self, max_images: int) -> list[ClaimedJob]:
        """Mark the oldest queued job and compatible ones (up to `max_images` images in all,
        at least one job) as running and return them; [] when nothing waits."""
        ...

    def complete(self, job_id: str, images: list[FinishedImage]) -> bool:
        """Store the images and mark the job succeeded, all or nothing; False if the job was
        not running or no longer held by this worker (already finished or taken elsewhere).
        QueueUnavailable if it could not be written."""
        ...

    def renew(self, job_ids: list[str]) -> list[str]:
        """Extend the leases of jobs this worker runs; returns those it still holds."""
        ...

    def release(self, job_ids: list[str]) -> int:
        """Give running jobs back to the queue without counting the attempt (shutdown)."""
        ...

    def fail(self, job_id: str, code: str, message: str) -> None:
        """Mark the job failed with a reason; nothing it half-wrote remains. QueueUnavailable if
        it could not be written."""
        ...

    def requeue_interrupted(self) -> int:
        """After a restart: running jobs go back to queued (or fail after too many attempts)."""
        ...
