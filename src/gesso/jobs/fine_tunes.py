"""Fine-tune jobs between their queue and the fine-tune worker: the claimed job and the queue
protocol (the database-backed queue in `store` implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gesso.train.lora_loop import FinetuneResult, TrainingEvent
from gesso.train.run_config import FinetuneRunConfig


class FineTuneLeaseLost(Exception):
    """This worker no longer holds the job (its lease lapsed and another worker took it, or it
    ended): nothing more of it may be written from here."""


@dataclass(frozen=True)
class ClaimedFineTune:
    """A fine-tune a worker now runs; `config.out_dir` holds its checkpoints (resume point)."""

    id: str
    config: FinetuneRunConfig
    tenant_id: str = ""


class FileSealing(Protocol):
    """Seals a job's files under its tenant's key, and opens them, in any process of the cluster
    (picklable: it carries settings, never key material). `name` binds the file into the
    ciphertext, so a sealed file renamed or moved to another job does not open."""

    def seal(self, name: str, data: bytes) -> bytes: ...

    def open(self, name: str, sealed: bytes) -> bytes:
        """The plaintext; raises ValueError for a file altered, renamed or of another job."""
        ...


class FineTuneQueue(Protocol):
    def prepare_pending(self) -> None:
        """Check and unpack the data of jobs that are `validating_files`; they become queued or failed."""
        ...

    def claim_next(self) -> ClaimedFineTune | None:
        """Lease the next job to this worker, mark it running and return it (None: nothing queued)."""
        ...

    def fetch_data(self, job_id: str) -> bool:
        """Put the claimed job's data and last checkpoint on this machine; False when the data
        is gone (the job failed). Raises QueueUnavailable when it cannot be read now."""
        ...

    def renew(self, job_id: str) -> bool:
        """Extend this worker's lease of a running job; False once the worker no longer holds it."""
        ...

    def requested_action(self, job_id: str) -> str | None:
        """'cancel', 'pause' or None."""
        ...

    def record(self, job_id: str, event: TrainingEvent) -> None:
        """Store one event (raises FineTuneLeaseLost once the job is not this worker's)."""
        ...

    def finish(self, job_id: str, result: FinetuneResult) -> None:
        """Store the outcome: succeeded (a new model), paused or cancelled."""
        ...

    def fail(self, job_id: str, code: str, message: str) -> None: ...

    def release(self, job_id: str, reason: str = "Server stopping") -> None:
        """Back to the queue after a shutdown pause or a failed write (not counted as an
        interruption); `reason` goes into the job's event."""
        ...
