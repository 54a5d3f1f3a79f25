"""Where a fine-tuned model's adapter folder is, for the image worker: the folder the fine-tune
wrote, put back from the model's blobs when it is missing (a restored backup, another host)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from gesso.model.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from gesso.store.blob_store import BlobNotFound, BlobStore
from gesso.store.finetune_records import find_model


def adapter_location(sessions: sessionmaker[Session], blobs: BlobStore, model_id: str) -> tuple[str, Path] | None:
    """(base model name, adapter folder) of a fine-tuned model, or None when there is none.

    Callers have already checked that the requesting tenant owns `model_id`.
    """
    with sessions() as session:
        model = find_model(session, model_id, None)
    if model is None:
        return None
    folder = Path(model.adapter_dir)
    if not all((folder / name).is_file() for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG)):
        try:
            _restore(blobs, model.adapter_blob_prefix, folder)
        except BlobNotFound:
            return None
    return model.base_model, folder


def _restore(blobs: BlobStore, prefix: str, folder: Path) -> None:
    tmp = folder.parent / f".restore-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
            (tmp / name).write_bytes(blobs.get(f"{prefix}/{name}"))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_adapter_folder(adapter_dir: str) -> None:
    """The local copy of a deleted model's adapter (its blobs are deleted with the row)."""
    shutil.rmtree(adapter_dir, ignore_errors=True)
