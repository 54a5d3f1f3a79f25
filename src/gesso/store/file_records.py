"""Uploaded files: rows plus their blobs, tenant-scoped reads, and deletion with its lineage rule
(a file that trained a model is deleted only together with those models)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from gesso.store.blob_files import put_file
from gesso.store.blob_store import BlobStore, blob_key
from gesso.store.ids import new_id
from gesso.store.tables import FileRecord, FineTunedModel, FineTuningJobRecord, Tenant

FINE_TUNE_PURPOSE = "fine-tune"
ACTIVE_JOB_STATUSES = ("validating_files", "queued", "running", "paused")


class FileInUse(Exception):
    """The file cannot be deleted (yet); `models` lists the fine-tuned models it trained."""

    def __init__(self, message: str, models: list[str]):
        super().__init__(message)
        self.models = models


class StorageBudgetExceeded(Exception):
    """The upload would take the tenant's stored files past its storage budget."""

    def __init__(self, used: int, size: int, budget: int):
        super().__init__(
            f"this upload of {size} bytes would take your organisation's stored files to {used + size} bytes, "
            f"over its storage budget of {budget} bytes: delete files first")
        self.used, self.size, self.budget = used, size, budget


def tenant_stored_bytes(session: Session, tenant_id: str) -> int:
    """Bytes of the tenant's stored uploads, from their rows."""
    return int(session.scalar(select(func.coalesce(func.sum(FileRecord.bytes), 0)).where(
        FileRecord.tenant_id == tenant_id)) or 0)


def check_storage_budget(session: Session, tenant_id: str, size: int, budget: int) -> None:
    """Raise StorageBudgetExceeded when `size` more bytes would pass `budget` (0: no budget)."""
    if budget <= 0:
        return
    used = tenant_stored_bytes(session, tenant_id)
    if used + size > budget:
        raise StorageBudgetExceeded(used, size, budget)


@dataclass(frozen=True)
class NewFile:
    """What the upload check found out about a good upload."""

    filename: str
    size: int
    sha256: str
    kind: str
    image_count: int
    uncaptioned_count: int


def file_blob_prefix(tenant_id: str, file_id: str) -> str:
    return blob_key(tenant_id, "files", file_id)


def add_file(
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    tenant_id: str,
    api_key_id: str,
    purpose: str,
    upload: Path,
    preview_png: bytes,
    info: NewFile,
    budget_bytes: int = 0,
) -> FileRecord:
    """Store the upload (streamed from its file at `upload`) and the preview as blobs, then the
    row; nothing is left if any step fails.

    Raises StorageBudgetExceeded when the tenant's stored files would pass `budget_bytes` (0: no
    budget), checked before the blobs are written and again in the row's transaction.
    """
    file_id = new_id("file")
    prefix = file_blob_prefix(tenant_id, file_id)
    record = FileRecord(
        id=file_id,
        tenant_id=tenant_id,
        purpose=purpose,
        filename=info.filename,
        bytes=info.size,
        sha256=info.sha256,
        kind=info.kind,
        image_count=info.image_count,
        uncaptioned_count=info.uncaptioned_count,
        status="processed",
        blob_key=f"{prefix}/upload",
        preview_blob_key=f"{prefix}/preview.png",
        created_by=api_key_id,
        created_at=time.time(),
    )
    with sessions() as session:
        check_storage_budget(session, tenant_id, info.size, budget_bytes)
    try:
        put_file(blobs, record.blob_key, upload)
        blobs.put(record.preview_blob_key, preview_png)
        with sessions.begin() as session:
            # the tenant row locked (PostgreSQL): two uploads at once cannot both fit the last room
            session.scalar(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
            check_storage_budget(session, tenant_id, info.size, budget_bytes)
            session.add(record)
    except BaseException:
        blobs.delete_prefix(prefix)
        raise
    return record


def find_file(session: Session, tenant_id: str, file_id: str) -> FileRecord | None:
    """The tenant's file; another tenant's id reads exactly like a missing one."""
    return session.scalar(select(FileRecord).where(FileRecord.id == file_id, FileRecord.tenant_id == tenant_id))


def list_files(session: Session, tenant_id: str, purpose: str | None, after: str | None, limit: int,
               newest_first: bool = True) -> list[FileRecord]:
    """The tenant's files by creation time, starting after the file `after` (cursor paging)."""
    order = (FileRecord.created_at.desc(), FileRecord.id.desc()) if newest_first else (
        FileRecord.created_at, FileRecord.id)
    query = select(FileRecord).where(FileRecord.tenant_id == tenant_id)
    if purpose:
        query = query.where(FileRecord.purpose == purpose)
    if after:
        cursor = find_file(session, tenant_id, after)
        if cursor is not None:
            earlier = (FileRecord.created_at < cursor.created_at) | (
                (FileRecord.created_at == cursor.created_at) & (FileRecord.id < cursor.id))
            later = (FileRecord.created_at > cursor.created_at) | (
                (FileRecord.created_at == cursor.created_at) & (FileRecord.id > cursor.id))
            query = query.where(earlier if newest_first else later)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def models_trained_on(session: Session, tenant_id: str, file_id: str) -> list[FineTunedModel]:
    return list(session.scalars(select(FineTunedModel).where(
        FineTunedModel.tenant_id == tenant_id,
        or_(FineTunedModel.training_file == file_id, FineTunedModel.validation_file == file_id),
    )))


def delete_file(
    sessions: sessionmaker[Session], blobs: BlobStore, tenant_id: str, file_id: str, cascade: bool
) -> tuple[FileRecord, list[FineTunedModel]] | None:
    """Delete the file (and with `cascade`, the models it trained); None when there is no such file.

    Raises FileInUse when a fine-tune that is not finished uses the file, or when models were
    trained on it and `cascade` is false. Rows go in one transaction, blobs after it.
    """
    with sessions.begin() as session:
        record = find_file(session, tenant_id, file_id)
        if record is None:
            return None
        active = session.scalars(select(FineTuningJobRecord.id).where(
            FineTuningJobRecord.tenant_id == tenant_id,
            FineTuningJobRecord.status.in_(ACTIVE_JOB_STATUSES),
            or_(FineTuningJobRecord.training_file == file_id, FineTuningJobRecord.validation_file == file_id),
        )).all()
        if active:
            raise FileInUse(f"fine-tuning job(s) {', '.join(active)} still use this file; cancel them first", [])
        models = models_trained_on(session, tenant_id, file_id)
        if models and not cascade:
            names = [m.id for m in models]
            raise FileInUse(
                f"this file trained {len(names)} fine-tuned model(s) ({', '.join(names)}); "
                "delete with cascade=true to delete them too", names)
        for model in models:
            session.delete(model)
        session.delete(record)
    blobs.delete_prefix(file_blob_prefix(tenant_id, file_id))
    for model in models:
        blobs.delete_prefix(model.adapter_blob_prefix)
    return record, models
