"""A fine-tune's checkpoints in the blob store, so that any worker can resume it.

A checkpoint folder (`train/checkpoints.py`) goes up file by file under
`<tenant>/fine_tunes/<job>/checkpoints/step-XXXXXXX/`: the adapter weights, the trainer state
(optimiser, RNG and generator, safetensors + JSON) and the JSON metadata. Only `.safetensors` and
`.json` files travel, either way, so a downloaded checkpoint never holds anything that would be
unpickled. The store seals each object under the tenant's data key like every other blob. One
file is in memory at a time; a LoRA checkpoint is small (rank 4 on the `tiny` denoiser about
0.2 MB, on `small` a few MB), so whole-object puts keep memory bounded.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from gesso.store.blob_store import BlobNotFound, BlobStore, blob_key
from gesso.train.checkpoints import META_FILE

TRAVELLING_SUFFIXES = (".safetensors", ".json")


def checkpoints_prefix(tenant_id: str, job_id: str) -> str:
    return blob_key(tenant_id, "fine_tunes", job_id, "checkpoints")


def checkpoint_prefix(tenant_id: str, job_id: str, folder_name: str) -> str:
    """The prefix of one checkpoint, named like its folder (`step-0000008`)."""
    return f"{checkpoints_prefix(tenant_id, job_id)}/{blob_key(folder_name)}"


def travelling_files(folder: Path) -> list[Path]:
    """The files of a checkpoint folder that go to the blob store, metadata last."""
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in TRAVELLING_SUFFIXES]
    return sorted(files, key=lambda p: p.name == META_FILE)


def upload_checkpoint(blobs: BlobStore, folder: Path, prefix: str) -> int:
    """Put the checkpoint's files under `prefix` (same names: a re-upload overwrites); returns
    the bytes uploaded."""
    total = 0
    for path in travelling_files(folder):
        data = path.read_bytes()
        blobs.put(f"{prefix}/{blob_key(path.name)}", data)
        total += len(data)
    return total


def download_checkpoint(blobs: BlobStore, prefix: str, checkpoints_dir: Path) -> Path:
    """Write the checkpoint stored under `prefix` to `checkpoints_dir/<its name>` (through a
    temporary folder, so a half-written one is never seen) and return that folder.

    Raises BlobNotFound when its metadata is missing, BlobUnreadable when a blob was altered,
    ValueError for a stored file that is not safetensors or JSON.
    """
    name = prefix.rsplit("/", 1)[-1]
    files = {}
    for key in blobs.keys(prefix):
        file_name = key[len(prefix) + 1:]
        if "/" in file_name or Path(file_name).suffix not in TRAVELLING_SUFFIXES:
            raise ValueError(f"checkpoint {prefix} holds {file_name!r}, which is not safetensors or JSON")
        files[file_name] = key
    if META_FILE not in files:
        raise BlobNotFound(f"{prefix}/{META_FILE}")
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    tmp = checkpoints_dir / f".download-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for file_name, key in files.items():
            (tmp / file_name).write_bytes(blobs.get(key))
        final = checkpoints_dir / name
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
