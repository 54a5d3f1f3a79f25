"""Blob storage behind one small interface (`store.blob_keys`): local disk, the default, or an
S3-compatible store. Encryption at rest wraps a store with the same interface (see
`open_blob_store`), so callers never change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from gesso.store.blob_keys import BlobNotFound, BlobStore, blob_key
from gesso.store.byte_streams import CHUNK_BYTES, BlobChunks

__all__ = ["BlobNotFound", "BlobStore", "LocalBlobStore", "blob_key", "open_blob_store"]


class LocalBlobStore:
    """Blobs as files under `root`; writes are atomic (temporary file + rename)."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        blob_key(*key.split("/"))  # refuses anything that could leave `root`
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        self._write(key, lambda handle: handle.write(data))

    def put_stream(self, key: str, source: BinaryIO) -> None:
        """Copy `source` in chunks into a temporary file beside the blob, then rename it into
        place; a failure on the way leaves neither the blob nor the temporary file."""
        self._write(key, lambda handle: shutil.copyfileobj(source, handle, CHUNK_BYTES))

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
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

    def open_stream(self, key: str) -> BlobChunks:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return BlobChunks(iter(lambda: handle.read(CHUNK_BYTES), b""), handle.close)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key at or below `prefix` (a key or a folder of keys)."""
        start = self._path(prefix.rstrip("/")) if prefix else self.root
        if start.is_file():
            yield prefix.rstrip("/")
            return
        for path in sorted(start.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def delete_prefix(self, prefix: str) -> None:
        """Remove one blob or a whole folder of blobs; missing ones are fine."""
        path = self._path(prefix.rstrip("/"))
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def open_blob_store(data_dir: Path, blob_url: str | None = None) -> BlobStore:
    """The one place a blob store is built: `s3://bucket/prefix` for an S3-compatible store,
    otherwise files under `<data_dir>/blobs`. Encryption at rest wraps the result."""
    if blob_url:
        from gesso.store.s3_blob_store import S3BlobStore, parse_blob_url

        bucket, prefix = parse_blob_url(blob_url)
        return S3BlobStore(bucket, prefix)
    return LocalBlobStore(data_dir / "blobs")
