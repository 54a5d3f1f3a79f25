"""The durable fine-tune queue in the database; implements `FineTuneQueue` (jobs/fine_tunes.py).

Any number of fine-tune workers, on any machines, share one queue: each claims one job at a time
under a lease (`finetune_leases`), renewed by its heartbeat, so the job of a worker that died is
claimed again once the lease lapses. Every write of a running job is guarded by the lease, so a
worker that lost its job (its lease lapsed and another took it) can no longer record, finish or
fail it. Checkpoints go to the blob store as they are written (`finetune_checkpoint_blobs`), so
a worker on another machine resumes from the last one; the job's data is unpacked on the
worker's own disk (`finetune_job_data`). Every status change is guarded by the status it leaves,
so a cancel that races the end of training loses cleanly instead of leaving a half-written state.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gesso.data.upload_archives import ArchiveLimits
from gesso.jobs.fine_tunes import ClaimedFineTune, FineTuneLeaseLost
from gesso.jobs.queue_errors import QueueUnavailable
from gesso.model.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from gesso.store.advisory_locks import try_session_lock
from gesso.store.blob_files import put_file
from gesso.store.blob_store import BlobStore, blob_key
from gesso.store.finetune_checkpoint_blobs import (
    checkpoint_prefix,
    checkpoints_prefix,
    fetch_resume_point,
    upload_checkpoint,
)
from gesso.store.finetune_job_data import (
    DATASET,
    VALIDATION,
    DataUnavailable,
    remove_ended_job_data,
    remove_job_data,
    unpack_job_data,
)
from gesso.store.finetune_leases import Requeued, claim_fairly, renew_lease, requeue_running
from gesso.store.finetune_records import add_event, forget_stored_checkpoints, save_checkpoint_row, set_status
from gesso.store.sql_job_queue import default_owner
from gesso.store.s3_blob_store import BlobStoreUnavailable
from gesso.store.tables import FileRecord, FineTunedModel, FineTuningJobRecord
from gesso.store.transient_errors import is_transient, retry_transient
from gesso.train.lora_loop import FinetuneResult, TrainingEvent, total_steps
from gesso.train.run_config import FinetuneRunConfig

ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG)


def job_blob_prefix(tenant_id: str, job_id: str) -> str:
    return blob_key(tenant_id, "fine_tunes", job_id)


class SqlFineTuneQueue:
    """Prepare, claim, record and finish fine-tunes stored in the database.

    `owner` names this worker in its leases (default: host, pid and a random part); `work_root`
    is where this machine keeps job folders (`<work_root>/<tenant>/<job>`; default: the folder
    the job row names, the single-machine layout).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        models_dir: Path,
        limits: ArchiveLimits,
        max_attempts: int = 3,
        write_retry_s: float = 30.0,
        lease_s: float = 60.0,
        owner: str | None = None,
        work_root: Path | None = None,
        sweep_every_s: float = 60.0,
    ):
        self.sessions = sessions
        self.blobs = blobs
        self.models_dir = models_dir
        self.limits = limits
        self.max_attempts = max_attempts
        self.write_retry_s = write_retry_s
        self.lease_s = lease_s
        self.owner = owner or default_owner()
        self.work_root = work_root
        self.sweep_every_s = sweep_every_s
        self._swept_at = float("-inf")

    def work_dir(self, job: FineTuningJobRecord) -> Path:
        """This machine's folder of a job: its data while it runs, checkpoints, the adapter."""
        return self.work_root / job.tenant_id / job.id if self.work_root is not None else Path(job.work_dir)

    # -- lifecycle -----------------------------------------------------------------------------

    def requeue_interrupted(self, only_worker: bool = False) -> int:
        """At start: running jobs whose lease lapsed go back to the queue (they resume from
        their last checkpoint). `only_worker`: this is the database's only fine-tune worker, so
        every running job was cut short by the last process's crash and goes back now, without
        waiting for its lease. A job interrupted `max_attempts` times fails, so a crash cannot loop."""
        return len(self._requeue(lapsed_only=not only_worker))

    def _requeue(self, lapsed_only: bool) -> list[Requeued]:
        with self.sessions.begin() as session:
            done = requeue_running(session, self.owner, self.max_attempts, lapsed_only)
            for item in done:
                if item.failed:
                    forget_stored_checkpoints(session, item.job_id)
        for item in done:
            if item.failed:
                self.blobs.delete_prefix(checkpoints_prefix(item.tenant_id, item.job_id))
                self._remove_local(item.job_id)
        return done

    def prepare_pending(self) -> None:
        """Check the data of new jobs (they become queued or failed), and remove this machine's
        copies of jobs that ended meanwhile (at most every `sweep_every_s`)."""
        if self.work_root is not None and time.monotonic() - self._swept_at >= self.sweep_every_s:
            self._swept_at = time.monotonic()
            remove_ended_job_data(self.sessions, self.work_root)
        with self.sessions() as session:
            pending = session.scalars(
                select(FineTuningJobRecord.id).where(FineTuningJobRecord.status == "validating_files")
                .order_by(FineTuningJobRecord.created_at)
            ).all()
        for job_id in pending:
            # one worker checks a job; the others pass it by (the row stays free for the API's cancel)
            with try_session_lock(self.sessions.kw["bind"], f"gesso:fine-tune-prepare:{job_id}") as held:
                if held:
                    self._prepare(job_id)

    def _prepare(self, job_id: str) -> None:
        with self.sessions() as session:
            job = session.get(FineTuningJobRecord, job_id)
        if job is None or job.status != "validating_files":
            return
        try:
            images = unpack_job_data(self.sessions, self.blobs, self.limits, job, self.work_dir(job))
        except DataUnavailable as exc:
            self.fail(job_id, "invalid_training_file", str(exc), allowed_from=("validating_files",))
            return
        steps = total_steps(FinetuneRunConfig(**json.loads(job.config_json)), images)
        with self.sessions.begin() as session:
            if set_status(session, job_id, ("validating_files",), status="queued", total_steps=steps):
                add_event(session, job, f"Files validated: {images} images, {steps} steps; the job is queued")

    def claim_next(self) -> ClaimedFineTune | None:
        """Lease the next job fairly (after putting lapsed leases back in the queue); None when
        nothing is queued. Its data and checkpoint are fetched by `fetch_data`."""
        self._requeue(lapsed_only=True)
        with self.sessions.begin() as session:
            job = claim_fairly(session, self.owner, self.lease_s)
        if job is None:
            return None
        work = self.work_dir(job)
        config = FinetuneRunConfig(**{
            **json.loads(job.config_json),
            "data_dir": str(work / DATASET),
            "validation_data_dir": str(work / VALIDATION) if job.validation_file else "",
            "out_dir": str(work),
            "base_model_dir": str(self.models_dir / job.model),
        })
        return ClaimedFineTune(job.id, config, job.tenant_id)

    def fetch_data(self, job_id: str) -> bool:
        """Unpack the claimed job's data on this machine (a no-op if done before) and make its
        last stored checkpoint the local resume point. False: the data is gone, the job failed.
        Raises QueueUnavailable when the blob store or database cannot be read now,
        FineTuneLeaseLost when the job is no longer this worker's."""
        with self.sessions() as session:
            job = session.get(FineTuningJobRecord, job_id)
        if job is None or job.status != "running" or job.lease_owner != self.owner:
            raise FineTuneLeaseLost(job_id)
        work = self.work_dir(job)
        try:
            unpack_job_data(self.sessions, self.blobs, self.limits, job, work)
            fetch_resume_point(self.sessions, self.blobs, job, work / "checkpoints")
        except DataUnavailable as exc:
            self.fail(job_id, "invalid_training_file", str(exc))
            return False
        except Exception as exc:
            raise QueueUnavailable(f"fetching the data of {job_id}: {str(exc).splitlines()[0][:200]}") from exc
        return True

    def renew(self, job_id: str) -> bool:
        """Extend this worker's lease; False once it lost the job. One attempt (the next
        heartbeat is the retry); QueueUnavailable when the database cannot be written."""
        try:
            with self.sessions.begin() as session:
                return renew_lease(session, job_id, self.owner, self.lease_s)
        except Exception as exc:
            if is_transient(exc):
                raise QueueUnavailable(f"renewing the lease of {job_id}: {str(exc).splitlines()[0][:200]}") from exc
            raise

    def requested_action(self, job_id: str) -> str | None:
        with self.sessions() as session:
            return session.scalar(
                select(FineTuningJobRecord.requested_action).where(FineTuningJobRecord.id == job_id)
            )

    def _write(self, what: str, action: Callable[[], None]) -> None:
        """Retry through a locked or lost database for `write_retry_s`; then, or when the object
        store is unreachable, QueueUnavailable (the worker hands the job back rather than failing it)."""
        try:
            retry_transient(action, what=what, budget_s=self.write_retry_s)
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, BlobStoreUnavailable):
                raise QueueUnavailable(f"{what}: {str(exc).splitlines()[0][:200]}") from exc
            raise

    def record(self, job_id: str, event: TrainingEvent) -> None:
        """One training event -> an event row (metrics as `type: metrics`), a checkpoint row with
        its files and sample grid as blobs, and the job's progress. Raises FineTuneLeaseLost
        when this worker no longer holds the job."""
        self._write(f"recording an event of {job_id}", lambda: self._record(job_id, event))

    def _record(self, job_id: str, event: TrainingEvent) -> None:
        with self.sessions() as session:
            job = session.get(FineTuningJobRecord, job_id)
        if job is None or job.status != "running" or job.lease_owner != self.owner:
            raise FineTuneLeaseLost(job_id)
        samples_key = stored_at = None
        if event.kind == "checkpoint" and event.samples is not None and event.samples.is_file():
            samples_key = f"{job_blob_prefix(job.tenant_id, job_id)}/samples/step-{event.step}.png"
            self.blobs.put(samples_key, event.samples.read_bytes())
        if event.kind == "checkpoint" and event.checkpoint is not None and event.checkpoint.is_dir():
            stored_at = checkpoint_prefix(job.tenant_id, job_id, event.checkpoint.name)
            upload_checkpoint(self.blobs, event.checkpoint, stored_at)
        with self.sessions.begin() as session:
            if not set_status(session, job_id, ("running",), owner=self.owner,
                              step=event.step, total_steps=event.total_steps):
                raise FineTuneLeaseLost(job_id)
            dropped = self._add_event_rows(session, session.get(FineTuningJobRecord, job_id), event,
                                           samples_key, stored_at)
        for prefix in dropped:
            self.blobs.delete_prefix(prefix)

    def _add_event_rows(self, session: Session, job: FineTuningJobRecord, event: TrainingEvent,
                        samples_key: str | None, stored_at: str | None) -> list[str]:
        """The event's rows; returns the blob prefixes of checkpoints no longer kept."""
        if event.kind == "metrics":
            add_event(session, job, event.message, kind="metrics", data={
                "step": event.step, "total_steps": event.total_steps, "train_loss": event.loss,
            })
        elif event.kind == "checkpoint":
            row = save_checkpoint_row(
                session, job, event.step, event.checkpoint, event.loss, event.valid_loss, samples_key, stored_at
            )
            data = {"step": event.step, "total_steps": event.total_steps, "checkpoint": row.id,
                    "train_loss": event.loss, "valid_loss": event.valid_loss}
            if samples_key is not None:
                data["sample_images"] = True  # a grid is stored; the service adds its URL
            add_event(session, job, event.message, data=data)
            session.flush()
            keep = int(json.loads(job.config_json).get("keep_checkpoints", 2))
            return forget_stored_checkpoints(session, job.id, keep=max(1, keep))
        elif event.kind != "succeeded":  # success is announced by `finish`, with the model id
            add_event(session, job, event.message, data={"step": event.step, "total_steps": event.total_steps})
        return []

    def finish(self, job_id: str, result: FinetuneResult) -> None:
        self._write(f"finishing {job_id}", lambda: self._finish(job_id, result))

    def _finish(self, job_id: str, result: FinetuneResult) -> None:
        if result.status == "succeeded":
            self._succeed(job_id, result)
        elif result.status == "paused":
            with self.sessions.begin() as session:
                set_status(session, job_id, ("running",), owner=self.owner, status="paused", requested_action=None,
                           lease_owner=None, lease_expires_at=None)
        elif result.status == "cancelled":
            self._end(job_id, "cancelled", "The job was cancelled")

    def release(self, job_id: str, reason: str = "Server stopping") -> None:
        def run() -> None:
            with self.sessions.begin() as session:
                if set_status(session, job_id, ("running",), owner=self.owner, status="queued",
                              lease_owner=None, lease_expires_at=None):
                    job = session.get(FineTuningJobRecord, job_id)
                    add_event(session, job, f"{reason}; the job resumes from step {job.step}")

        self._write(f"releasing {job_id}", run)

    def fail(self, job_id: str, code: str, message: str, allowed_from: tuple[str, ...] = ("running",)) -> None:
        self._write(f"failing {job_id}",
                    lambda: self._end(job_id, "failed", message, code=code, allowed_from=allowed_from))

    # -- internals -----------------------------------------------------------------------------

    def _succeed(self, job_id: str, result: FinetuneResult) -> None:
        with self.sessions() as session:
            job = session.get(FineTuningJobRecord, job_id)
            training = session.get(FileRecord, job.training_file)
        if job.status != "running" or job.lease_owner != self.owner:
            raise FineTuneLeaseLost(job_id)
        prefix = f"{job_blob_prefix(job.tenant_id, job_id)}/adapter"
        for name in ADAPTER_FILES:
            put_file(self.blobs, f"{prefix}/{name}", result.adapter_dir / name)
        config = json.loads(job.config_json)
        with self.sessions.begin() as session:
            if not set_status(session, job_id, ("running",), owner=self.owner, status="succeeded",
                              finished_at=time.time(), fine_tuned_model=job.model_name, requested_action=None,
                              lease_owner=None, lease_expires_at=None):
                # the adapter is removed only if nobody will write it: a worker that took the job
                # over writes the same names, and its model row would name them
                now = session.scalar(select(FineTuningJobRecord.status).where(FineTuningJobRecord.id == job_id))
                if now is None or now in ("failed", "cancelled"):
                    self.blobs.delete_prefix(prefix)
                return
            session.add(FineTunedModel(
                id=job.model_name,
                tenant_id=job.tenant_id,
                job_id=job_id,
                base_model=job.model,
                training_file=job.training_file,
                validation_file=job.validation_file,
                dataset_sha256=config.get("dataset_sha256") or (training.sha256 if training else ""),
                hyperparameters_json=json.dumps(config, sort_keys=True),
                created_by=job.api_key_id,
                adapter_blob_prefix=prefix,
                adapter_dir=str(result.adapter_dir),
                created_at=time.time(),
            ))
            add_event(session, job, f"New fine-tuned model created: {job.model_name}",
                      data={"fine_tuned_model": job.model_name, "step": result.step})
            add_event(session, job, "The job has successfully completed")
            forget_stored_checkpoints(session, job_id)
        self.blobs.delete_prefix(checkpoints_prefix(job.tenant_id, job_id))  # a resume point no more
        remove_job_data(self.work_dir(job))

    def _end(self, job_id: str, status: str, message: str, code: str | None = None,
             allowed_from: tuple[str, ...] = ("running",)) -> None:
        owner = self.owner if allowed_from == ("running",) else None
        with self.sessions.begin() as session:
            if not set_status(session, job_id, allowed_from, owner=owner, status=status, finished_at=time.time(),
                              requested_action=None, error_code=code, error_message=message if code else None,
                              lease_owner=None, lease_expires_at=None):
                return
            job = session.get(FineTuningJobRecord, job_id)
            add_event(session, job, message, level="error" if code else "info")
            forget_stored_checkpoints(session, job_id)
        self.blobs.delete_prefix(checkpoints_prefix(job.tenant_id, job_id))
        remove_job_data(self.work_dir(job))

    def _remove_local(self, job_id: str) -> None:
        with self.sessions() as session:
            job = session.get(FineTuningJobRecord, job_id)
        if job is not None:
            remove_job_data(self.work_dir(job))


def config_without_paths(config: FinetuneRunConfig) -> dict:
    """What a job row keeps of its run config: everything but the folders, fixed at creation."""
    paths = {"data_dir", "validation_data_dir", "out_dir", "base_model_dir"}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in paths}
