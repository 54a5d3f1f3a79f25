"""Fine-tune jobs written straight into a database, for the tests of the fine-tune queue and its
workers: a tenant, a training file (the 16-image shape dataset as a zip blob) and queued jobs
with the tiny run settings the service tests use (2-step samples, no bf16, a checkpoint every
epoch of 4 steps)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from gesso.data.upload_archives import ArchiveLimits
from gesso.governance.tenants import create_tenant, find_tenant
from gesso.store.blob_store import BlobStore
from gesso.store.file_records import file_blob_prefix
from gesso.store.finetune_queue import SqlFineTuneQueue, config_without_paths
from gesso.store.finetune_records import add_event
from gesso.store.ids import new_id
from gesso.store.tables import FileRecord, FineTuningJobRecord
from gesso.train.run_config import FinetuneRunConfig
from tests.service.finetune_fixtures import dataset_zip

IMAGES, STEPS_PER_EPOCH = 16, 4
TINY = FinetuneRunConfig(
    n_epochs=2, batch_size=4, learning_rate=0.005, rank=4, seed=0, caption_dropout=0.1, checkpoint_every=4,
    keep_checkpoints=3, log_every=1, sample_steps=2, mixed_precision="no",
)


def tenant_id(sessions: sessionmaker[Session], name: str) -> str:
    with sessions.begin() as session:
        return (find_tenant(session, name) or create_tenant(session, name)).id


def add_training_file(sessions: sessionmaker[Session], blobs: BlobStore, tenant: str, root: Path) -> str:
    """The shape dataset as the tenant's processed fine-tune file; returns its id."""
    data = dataset_zip(root)
    file_id = new_id("file")
    key = f"{file_blob_prefix(tenant, file_id)}/upload.zip"
    blobs.put(key, data)
    with sessions.begin() as session:
        session.add(FileRecord(
            id=file_id, tenant_id=tenant, purpose="fine-tune", filename="shapes.zip", bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(), kind="zip", image_count=IMAGES, uncaptioned_count=0,
            status="processed", blob_key=key, preview_blob_key=f"{file_blob_prefix(tenant, file_id)}/preview.png",
            created_by="key", created_at=time.time(),
        ))
    return file_id


def add_job(sessions: sessionmaker[Session], tenant: str, file_id: str, data_root: Path, n_epochs: int = 2,
            seed: int = 0, status: str = "queued", created_at: float | None = None) -> str:
    """A job as the service writes it, already `queued` (its files validated); returns its id."""
    job_id = new_id("ftjob")
    config = replace(TINY, n_epochs=n_epochs, seed=seed)
    with sessions.begin() as session:
        job = FineTuningJobRecord(
            id=job_id, tenant_id=tenant, api_key_id="key", model="gesso-base", training_file=file_id,
            validation_file=None, suffix="", seed=seed, trigger="", rank=config.rank,
            hyperparameters_json=json.dumps({"n_epochs": n_epochs}), config_json=json.dumps(config_without_paths(config)),
            metadata_json="{}", status=status, model_name=f"ft:gesso-base:{tenant}::{job_id}",
            work_dir=str(data_root / "finetunes" / tenant / job_id), step=0,
            total_steps=n_epochs * STEPS_PER_EPOCH, attempts=0, created_at=created_at or time.time(),
        )
        session.add(job)
        session.flush()
        add_event(session, job, f"Created fine-tuning job: {job_id}")
    return job_id


def make_queue(sessions: sessionmaker[Session], blobs: BlobStore, models_dir: Path, owner: str, work_root: Path,
               lease_s: float = 60.0, max_attempts: int = 3) -> SqlFineTuneQueue:
    """A worker's queue: its own lease owner and its own disk (`work_root`), swept at every poll."""
    return SqlFineTuneQueue(sessions, blobs, models_dir, ArchiveLimits(), max_attempts=max_attempts,
                            write_retry_s=5.0, lease_s=lease_s, owner=owner, work_root=work_root, sweep_every_s=0.0)


def job_row(sessions: sessionmaker[Session], job_id: str) -> FineTuningJobRecord:
    with sessions() as session:
        return session.get(FineTuningJobRecord, job_id)
