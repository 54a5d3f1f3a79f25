"""Image jobs between the queue and the worker: the job a worker claims, the pixels it hands
back, the encoded images the store keeps, and the queue protocol (the database-backed queue in
`store` implements it; a Ray-backed deployment can implement it the same way).

The engine knows jobs only by id; tenants, keys and storage belong to the layers above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from gesso.jobs.generation_request import GenerationRequest


@dataclass(frozen=True)
class ClaimedJob:
    """A job the worker now runs: the request exactly as the route checked it and the job row
    holds it; `image`/`mask` are normalised PNG bytes for edits; `request_id` is the id of the
    HTTP request that queued it (for logs)."""

    id: str
    request: GenerationRequest
    image: bytes | None = None
    mask: bytes | None = None
    request_id: str = ""


@dataclass(frozen=True)
class FinishedImage:
    """One output image of a job as the model made it: RGB pixels, not yet encoded (delivery
    stamps them and encodes them once)."""

    index: int
    seed: int
    pixels: Image.Image


@dataclass(frozen=True)
class FinishedJob:
    """A job the worker ran to its end, with its images in index order."""

    job: ClaimedJob
    images: list[FinishedImage]


@dataclass(frozen=True)
class EncodedImage:
    """One image as stored and delivered: its bytes in the requested format."""

    index: int
    seed: int
    data: bytes
    content_type: str
    width: int
    height: int


class JobQueue(Protocol):
    def claim_batch(self, max_images: int, batch_key: str | None = None) -> list[ClaimedJob]:
        """Mark the oldest queued job and compatible ones (up to `max_images` images in all,
        at least one job) as running and return them; [] when nothing waits. With `batch_key`,
        only jobs of that key that fit in `max_images` (to top up a batch already claimed)."""
        ...

    def complete(self, finished: FinishedJob) -> bool:
        """Encode and store the images and mark the job succeeded, all or nothing; False if
        the job was not running or no longer held by this worker (already finished or taken
        elsewhere). QueueUnavailable if it could not be written."""
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
