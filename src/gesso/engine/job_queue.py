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


class JobQueue(Protocol):
    def claim_batch(self, max_images: int) -> list[ClaimedJob]:
        """Mark the oldest queued job and compatible ones (up to `max_images` images in all,
        at least one job) as running and return them; [] when nothing waits."""
        ...

    def complete(self, job_id: str, images: list[FinishedImage]) -> bool:
        """Store the images and mark the job succeeded, all or nothing; False if the job was
        not running (already finished elsewhere)."""
        ...

    def fail(self, job_id: str, code: str, message: str) -> None:
        """Mark the job failed with a reason; nothing it half-wrote remains."""
        ...

    def requeue_interrupted(self) -> int:
        """After a restart: running jobs go back to queued (or fail after too many attempts)."""
        ...
