"""The durable fine-tune queue in the database; implements `FineTuneQueue` (jobs/fine_tunes.py).

A job's data is unpacked from its file's blob into the job's work folder only while the job
needs it (checked again on the way, by the same `store_upload` as the upload), and removed when
the job ends; checkpoints and the adapter stay there, the adapter also as blobs. Every status
change is guarded by the status it leaves, so a cancel that races the end of training loses
cleanly instead of leaving a half-written state.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gesso.data.upload_archives import ArchiveLimits, UploadRejected, store_upload
from gesso.jobs.fine_tunes import ClaimedFineTune
from gesso.jobs.queue_errors import QueueUnavailable
from gesso.model.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from gesso.store.blob_store import BlobNotFound, BlobStore, blob_key
from gesso.store.finetune_records import add_event, next_job_id, save_checkpoint_row, set_status
from gesso.store.tables import FileRecord, FineTunedModel, FineTuningJobRecord
from gesso.store.transient_errors import is_transient, retry_transient
from gesso.train.lora_loop import FinetuneResult, TrainingEvent, total_steps
from gesso.train.run_config import FinetuneRunConfig

ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG)
DATASET, VALIDATION = "dataset", "validation"


def job_blob_prefix(tenant_id: str, job_id: str) -> str:
    return blob_key(tenant_id, "fine_tunes", job_id)


class DataUnavailable(Exception):
    """The job's file is gone or no longer passes the upload check."""


class SqlFineTuneQueue:
    """Prepare, claim, record and finish fine-tunes stored in the database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        models_dir: Path,
        limits: ArchiveLimits,
        max_attempts: int = 3,
        write_retry_s: float = 30.0,
    ):
        self.sessions = sessions
        self.blobs = blobs
        self.models_dir = models_dir
        self.limits = limits
        self.max_attempts = max_attempts
        self.write_retry_s = write_retry_s

    # -- lifecycle -----------------------------------------------------------------------------

    def requeue_interrupted(self) -> int:
        """After a restart: running jobs go back to the queue (they resume from their last
        checkpoint); one interrupted `max_attempts` times fails, so a crash cannot loop."""
        with self.sessions.begin() as session:
            jobs = session.scalars(select(FineTuningJobRecord).where(FineTuningJobRecord.status == "running")).all()
            for job in jobs:
                job.attempts += 1
                if job.attempts >= self.max_attempts:
                    job.status, job.error_code, job.finished_at = "failed", "job_interrupted", time.time()
                    job.error_message = f"the fine-tune was interrupted {job.attempts} times"
                    add_event(session, job, job.error_message, level="error")
                else:
                    job.status = "queued"
                    add_event(session, job, f"Server restarted; the job resumes from its last checkpoint "
                                            f"(step {job.step})")
            failed = [(job.id, job.work_dir) for job in jobs if job.status == "failed"]
        for _, work_dir in failed:
            remove_job_data(Path(work_dir))
        return len(jobs)

    def prepare_pending(self) -> None:
        with self.sessions() as session:
            pending = session.scalars(
                select(FineTuningJobRecord.id).where(FineTuningJobRecord.status == "validating_files")
                .order_by(FineTuningJobRecord.created_at)
            ).all()
        for job_id in pending:
            with self.sessions() as session:
                job = session.get(FineTuningJobRecord, job_id)
            try:
                images = self._unpack(job)
            except DataUnavailable as exc:
                self.fail(job_id, "invalid_training_file", str(exc), allowed_from=("validating_files",))
                continue
            config = json.loads(job.config_json)
            steps = total_steps(FinetuneRunConfig(**config), images)
            with self.sessions.begin() as session:
                if set_status(session, job_id, ("validating_files",), status="queued", total_steps=steps):
                    job = session.get(FineTuningJobRecord, job_id)
                    add_event(session, job, f"Files validated: {images} images, {steps} steps; the job is queued")

    def claim_next(self) -> ClaimedFineTune | None:
        with self.sessions.begin() as session:
            job_id = next_job_id(session)
            if job_id is None:
                return None
            if not set_status(session, job_id, ("queued",), status="running", started_at=time.time()):
                return None
            job = session.get(FineTuningJobRecord, job_id)
        try:
            self._unpack(job)  # a no-op unless the data was removed (e.g. a restored backup)
        except DataUnavailable as exc:
            self.fail(job_id, "invalid_training_file", str(exc))
            return None
        work = Path(job.work_dir)
        config = FinetuneRunConfig(**{
            **json.loads(job.config_json),
            "data_dir": str(work / DATASET),
            "validation_data_dir": str(work / VALIDATION) if job.validation_file else "",
            "out_dir": str(work),
            "base_model_dir": str(self.models_dir / job.model),
        })
        return ClaimedFineTune(job.id, config)

    def requested_action(self, job_id: str) -> str | None:
        with self.sessions() as session:
            return session.scalar(
                select(FineTuningJobRecord.requested_action).where(FineTuningJobRecord.id == job_id)
            )

    def _write(self, what: str, action: Callable[[], None]) -> None:
        """Retry through a locked or lost database for `write_retry_s`; then QueueUnavailable
        (the worker hands the job back rather than failing it)."""
        try:
            retry_transient(action, what=what, budget_s=self.write_retry_s)
        except Exception as exc:
            if is_transient(exc):
                raise QueueUnavailable(f"{what}: {str(exc).splitlines()[0][:200]}") from exc
            raise

    def record(self, job_id: str, event: TrainingEvent) -> None:
        """One training event -> an event row (metrics as `type: metrics`), a checkpoint row and
        its sample grid as a blob, and the job's progress."""
        self._write(f"recording an event of {job_id}", lambda: self._record(job_id, event))

    def _record(self, job_id: str, event: TrainingEvent) -> None:
        with self.sessions() as session:
            job = session.get(FineTuningJobRecord, job_id)
        samples_key = None
        if event.kind == "checkpoint" and event.samples is not None and event.samples.is_file():
            samples_key = f"{job_blob_prefix(job.tenant_id, job_id)}/samples/step-{event.step}.png"
            self.blobs.put(samples_key, event.samples.read_bytes())
        with self.sessions.begin() as session:
            job = session.get(FineTuningJobRecord, job_id)
            job.step, job.total_steps = event.step, event.total_steps
            if event.kind == "metrics":
                add_event(session, job, event.message, kind="metrics", data={
                    "step": event.step, "total_steps": event.total_steps, "train_loss": event.loss,
                })
            elif event.kind == "checkpoint":
                row = save_checkpoint_row(
                    session, job, event.step, event.checkpoint, event.loss, event.valid_loss, samples_key
                )
                data = {"step": event.step, "total_steps": event.total_steps, "checkpoint": row.id,
                        "train_loss": event.loss, "valid_loss": event.valid_loss}
                if samples_key is not None:
                    data["sample_images"] = True  # a grid is stored; the service adds its URL
                add_event(session, job, event.message, data=data)
            elif event.kind != "succeeded":  # success is announced by `finish`, with the model id
                add_event(session, job, event.message, data={"step": event.step, "total_steps": event.total_steps})

    def finish(self, job_id: str, result: FinetuneResult) -> None:
        self._write(f"finishing {job_id}", lambda: self._finish(job_id, result))

    def _finish(self, job_id: str, result: FinetuneResult) -> None:
        if result.status == "succeeded":
            self._succeed(job_id, result)
        elif result.status == "paused":
            with self.sessions.begin() as session:
                set_status(session, job_id, ("running",), status="paused", requested_action=None)
        elif result.status == "cancelled":
            self._end(job_id, "cancelled", "The job was cancelled")

    def release(self, job_id: str, reason: str = "Server stopping") -> None:
        def run() -> None:
            with self.sessions.begin() as session:
                if set_status(session, job_id, ("running",), status="queued"):
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
        prefix = f"{job_blob_prefix(job.tenant_id, job_id)}/adapter"
        for name in ADAPTER_FILES:
            self.blobs.put(f"{prefix}/{name}", (result.adapter_dir / name).read_bytes())
        config = json.loads(job.config_json)
        with self.sessions.begin() as session:
            if not set_status(session, job_id, ("running",), status="succeeded", finished_at=time.time(),
                              fine_tuned_model=job.model_name, requested_action=None):
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
        remove_job_data(Path(job.work_dir))

    def _end(self, job_id: str, status: str, message: str, code: str | None = None,
             allowed_from: tuple[str, ...] = ("running",)) -> None:
        with self.sessions.begin() as session:
            if not set_status(session, job_id, allowed_from, status=status, finished_at=time.time(),
                              requested_action=None, error_code=code, error_message=message if code else None):
                return
            job = session.get(FineTuningJobRecord, job_id)
            add_event(session, job, message, level="error" if code else "info")
            work_dir = job.work_dir
        remove_job_data(Path(work_dir))

    def _unpack(self, job: FineTuningJobRecord) -> int:
        """Unpack the job's training (and validation) file into its work folder, unless done;
        returns the number of training images."""
        work = Path(job.work_dir)
        images = self._unpack_file(job, job.training_file, work / DATASET)
        if job.validation_file:
            self._unpack_file(job, job.validation_file, work / VALIDATION)
        return images

    def _unpack_file(self, job: FineTuningJobRecord, file_id: str, dest: Path) -> int:
        if (dest / "metadata.jsonl").is_file():
            return sum(1 for line in (dest / "metadata.jsonl").read_text().splitlines() if line.strip())
        with self.sessions() as session:
            record = session.scalar(
                select(FileRecord).where(FileRecord.id == file_id, FileRecord.tenant_id == job.tenant_id)
            )
        if record is None:
            raise DataUnavailable(f"file {file_id} no longer exists")
        try:
            data = self.blobs.get(record.blob_key)
        except BlobNotFound:
            raise DataUnavailable(f"the bytes of file {file_id} are missing") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".upload-") as handle:
            handle.write(data)
            handle.flush()
            try:
                stored = store_upload(Path(handle.name), dest, trigger=job.trigger or None, limits=self.limits)
            except UploadRejected as exc:
                raise DataUnavailable(f"file {file_id}: {exc}") from None
        return stored.image_count


def remove_job_data(work_dir: Path) -> None:
    """The tenant's images leave the disk when a job ends; checkpoints and adapter stay."""
    for name in (DATASET, VALIDATION, "cache"):
        shutil.rmtree(work_dir / name, ignore_errors=True)


def config_without_paths(config: FinetuneRunConfig) -> dict:
    """What a job row keeps of its run config: everything but the folders, fixed at creation."""
    paths = {"data_dir", "validation_data_dir", "out_dir", "base_model_dir"}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in paths}
