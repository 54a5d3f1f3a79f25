"""Files to blobs and back, streamed: the way every large object (an upload, a dataset, a
checkpoint file, an adapter) travels, so none of them is ever whole in memory."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from gesso.store.blob_keys import BlobStore


def put_file(blobs: BlobStore, key: str, path: Path) -> int:
    """Store the file at `path` under `key`; returns its size in bytes."""
    with path.open("rb") as source:
        blobs.put_stream(key, source)
        return source.tell()


def copy_blob(blobs: BlobStore, key: str, out: BinaryIO) -> int:
    """Write the blob under `key` into `out`; returns the bytes written. Raises what the store
    raises (BlobNotFound before anything is written, BlobUnreadable possibly part way)."""
    written = 0
    with blobs.open_stream(key) as chunks:
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
    return written


def save_blob(blobs: BlobStore, key: str, path: Path) -> int:
    """The blob under `key` into a new file at `path` (removed again when reading fails, so a
    half-written copy is never left); returns its size."""
    chunks = blobs.open_stream(key)  # a missing blob raises before the file exists
    try:
        with chunks, path.open("wb") as out:
            written = 0
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        return written
    except BaseException:
        path.unlink(missing_ok=True)
        raise
