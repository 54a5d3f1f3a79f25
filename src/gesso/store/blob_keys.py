"""What every blob store shares: the interface, the key rules and the not-found error.

Keys look like `<tenant_id>/images/<job_id>/<index>.png`; every key starts with its tenant, so a
tenant's blobs can be listed, exported or erased as one prefix.

`put`/`get` move a small blob whole; `put_stream`/`open_stream` move one of any size in chunks,
so neither side ever holds it whole (uploads, datasets, checkpoints, adapters).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from gesso.store.byte_streams import BlobChunks

_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BlobNotFound(KeyError):
    """No blob under that key."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def put_stream(self, key: str, source: BinaryIO) -> None:
        """Store everything `source` yields under `key`, read in chunks. Nothing is stored (and
        nothing is left half-written) when reading `source` or writing fails."""
        ...

    def open_stream(self, key: str) -> BlobChunks:
        """The blob's bytes in chunks; raises BlobNotFound at once (not on the first read) when
        there is no such blob."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def keys(self, prefix: str = "") -> Iterator[str]: ...


def blob_key(*parts: str) -> str:
    """Join key parts; each must be a plain name (no `/`, `..` or leading dot)."""
    for part in parts:
        if not _KEY_PART.match(part) or part in {".", ".."}:
            raise ValueError(f"unsafe blob key part {part!r}")
    return "/".join(parts)
