"""Streamed previews of a running job, for requests waiting in another process.

The worker hands each preview it makes to its own process's events (the fast path) and, where
other processes may be waiting on the job (replicas, separate workers), to a `PreviewChannel`
too; the store implements it in the database and the blob store, so any replica can stream a job
a worker on another machine runs.
"""

from __future__ import annotations

from typing import Protocol

from gesso.jobs.image_jobs import ClaimedJob


class PreviewChannel(Protocol):
    def wants(self, job: ClaimedJob) -> bool:
        """Whether previews of `job` should be made for this channel (its request streams them)."""
        ...

    def publish(self, job: ClaimedJob, image_index: int, partial_index: int, data: bytes) -> None:
        """Offer one encoded preview; the channel may drop it (it keeps its own pace). Never
        raises: a preview that cannot be stored is only a preview fewer."""
        ...

    def ended(self, job_ids: list[str]) -> None:
        """These jobs finished, failed or were handed back: forget them; clear out old previews."""
        ...
