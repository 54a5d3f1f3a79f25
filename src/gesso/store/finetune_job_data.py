"""A fine-tune's data on the disk of the worker that trains it.

The job's training (and validation) file is unpacked from its blob into the job's work folder
only while the job needs it, checked again on the way by the same `store_upload` as the upload.
The copy leaves the disk when the job ends; on a worker that held a copy of a job another worker
finished, it leaves at that worker's next sweep (`remove_ended_job_data`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gesso.data.upload_archives import ArchiveLimits, UploadRejected, store_upload
from gesso.store.blob_files import copy_blob
from gesso.store.blob_store import BlobNotFound, BlobStore
from gesso.store.tables import FileRecord, FineTuningJobRecord

DATASET, VALIDATION, FEATURES = "dataset", "validation", "cache"
ENDED = ("succeeded", "failed", "cancelled")


class DataUnavailable(Exception):
    """The job's file is gone or no longer passes the upload check."""


def unpack_job_data(
    sessions: sessionmaker[Session], blobs: BlobStore, limits: ArchiveLimits, job: FineTuningJobRecord, work: Path
) -> int:
    """Unpack the job's training (and validation) file into `work`, unless done; returns the
    number of training images. Raises DataUnavailable."""
    images = _unpack_file(sessions, blobs, limits, job, job.training_file, work / DATASET)
    if job.validation_file:
        _unpack_file(sessions, blobs, limits, job, job.validation_file, work / VALIDATION)
    return images


def remove_job_data(work_dir: Path) -> None:
    """The tenant's images (and their features) leave the disk; checkpoints and adapter stay."""
    for name in (DATASET, VALIDATION, FEATURES):
        shutil.rmtree(work_dir / name, ignore_errors=True)


def remove_ended_job_data(sessions: sessionmaker[Session], work_root: Path) -> int:
    """Remove the data copies under `work_root/<tenant>/<job>` of jobs that ended (or are gone);
    returns how many. Copies of jobs still queued, paused or running anywhere stay."""
    holding = {
        folder.name: folder
        for tenant in _folders(work_root) for folder in _folders(tenant)
        if any((folder / name).exists() for name in (DATASET, VALIDATION, FEATURES))
    }
    if not holding:
        return 0
    with sessions() as session:
        alive = set(session.scalars(
            select(FineTuningJobRecord.id)
            .where(FineTuningJobRecord.id.in_(list(holding)), FineTuningJobRecord.status.not_in(ENDED))
        ))
    ended = [folder for job_id, folder in holding.items() if job_id not in alive]
    for folder in ended:
        remove_job_data(folder)
    return len(ended)


def _folders(parent: Path) -> list[Path]:
    try:
        return [path for path in parent.iterdir() if path.is_dir()]
    except OSError:
        return []


def _unpack_file(
    sessions: sessionmaker[Session], blobs: BlobStore, limits: ArchiveLimits, job: FineTuningJobRecord,
    file_id: str, dest: Path,
) -> int:
    if (dest / "metadata.jsonl").is_file():
        return sum(1 for line in (dest / "metadata.jsonl").read_text().splitlines() if line.strip())
    with sessions() as session:
        record = session.scalar(
            select(FileRecord).where(FileRecord.id == file_id, FileRecord.tenant_id == job.tenant_id)
        )
    if record is None:
        raise DataUnavailable(f"file {file_id} no longer exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".upload-") as handle:
        try:
            copy_blob(blobs, record.blob_key, handle)  # streamed: a dataset is never whole in memory
        except BlobNotFound:
            raise DataUnavailable(f"the bytes of file {file_id} are missing") from None
        handle.flush()
        try:
            stored = store_upload(Path(handle.name), dest, trigger=job.trigger or None, limits=limits)
        except UploadRejected as exc:
            raise DataUnavailable(f"file {file_id}: {exc}") from None
    return stored.image_count
