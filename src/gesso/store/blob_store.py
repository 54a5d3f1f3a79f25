"""Blob storage behind one small interface: local disk now, an S3-compatible store later.

Keys look like `<tenant_id>/images/<job_id>/<index>.png`; every key starts with its tenant, so a
tenant's blobs can be listed, exported or erased as one prefix. Encryption at rest wraps a store
with the same interface (see `open_blob_store`), so callers never change.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BlobNotFound(KeyError):
    """No blob under that key."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> None: ...


def blob_key(*parts: str) -> str:
    """Join key parts; each must be a plain name (no `/`, `..` or leading dot)."""
    for part in parts:
        if not _KEY_PART.match(part) or part in {".", ".."}:
            raise ValueError(f"unsafe blob key part {part!r}")
    return "/".join(parts)


class LocalBlobStore:
    """Blobs as files under `root`; writes are atomic (temporary file + rename)."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        blob_key(*key.split("/"))  # refuses anything that could leave `root`
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        """Remove one blob or a whole folder of blobs; missing ones are fine."""
        path = self._path(prefix.rstrip("/"))
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def open_blob_store(data_dir: Path) -> BlobStore:
    """The one place a blob store is built; encryption at rest will wrap the result here."""
    return LocalBlobStore(data_dir / "blobs")
