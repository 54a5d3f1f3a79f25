"""Where a fine-tuned model's adapter folder is, for the image worker of any machine: the folder
the fine-tune wrote when this is the machine that wrote it, otherwise a copy fetched from the
model's blobs (sealed in the store like every blob) into this machine's `fetched_root`."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from gesso.model.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from gesso.store.blob_files import save_blob
from gesso.store.blob_store import BlobNotFound, BlobStore
from gesso.store.finetune_records import find_model

ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG)


def adapter_location(
    sessions: sessionmaker[Session], blobs: BlobStore, model_id: str, fetched_root: Path | None = None
) -> tuple[str, Path] | None:
    """(base model name, adapter folder) of a fine-tuned model, or None when there is none.

    `fetched_root`: where copies from the blob store go (`<root>/<tenant>/<job>`); without it,
    into the folder the model row names (the single-machine layout). Callers have already
    checked that the requesting tenant owns `model_id`.
    """
    with sessions() as session:
        model = find_model(session, model_id, None)
    if model is None:
        return None
    written = Path(model.adapter_dir)
    if _complete(written):
        return model.base_model, written
    folder = fetched_root / model.tenant_id / model.job_id if fetched_root is not None else written
    if not _complete(folder):
        try:
            _fetch(blobs, model.adapter_blob_prefix, folder)
        except BlobNotFound:
            return None
    return model.base_model, folder


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ADAPTER_FILES)


def _fetch(blobs: BlobStore, prefix: str, folder: Path) -> None:
    """The adapter's blobs into `folder`, through a temporary folder renamed into place (two
    threads fetching at once: one rename wins, the other's copy is dropped)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".fetch-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name in ADAPTER_FILES:
            save_blob(blobs, f"{prefix}/{name}", tmp / name)  # streamed, never whole in memory
        shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:
            if not _complete(folder):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_adapter_folder(adapter_dir: str) -> None:
    """The local copy of a deleted model's adapter (its blobs are deleted with the row)."""
    shutil.rmtree(adapter_dir, ignore_errors=True)
