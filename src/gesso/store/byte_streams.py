"""The two shapes a blob's bytes take while they stream: chunks coming out of a store
(`BlobChunks`, an iterator that also releases its connection or file when closed) and a readable
file object over chunks (`ChunkReader`), for a store whose writer reads from a file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO, Callable

CHUNK_BYTES = 1024 * 1024


class BlobChunks(Iterator[bytes]):
    """A blob's bytes in chunks. Close it (or use it in `with`) when done, read to the end or
    not: that releases the file or connection behind it."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None] = lambda: None):
        self._chunks = chunks
        self._close = close
        self._closed = False

    def __iter__(self) -> BlobChunks:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            closer = getattr(self._chunks, "close", None)
            if closer is not None:
                closer()
        finally:
            self._close()

    def __enter__(self) -> BlobChunks:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of bytes; what the iterator raises, `read` raises."""

    def __init__(self, chunks: Iterator[bytes]):
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._pending = memoryview(chunk)
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left when `size` is negative); b"" at the end."""
        if size is None or size < 0:
            return self.readall()
        if size == 0 or not self._fill():
            return b""
        piece = bytes(self._pending[:size])
        self._pending = self._pending[size:]
        return piece

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._fill():
            return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def read_full(source: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes from `source`, fewer only at its end (a socket or pipe may answer a
    read with less than asked)."""
    first = source.read(size)
    if not first or len(first) == size:
        return first or b""
    parts, have = [first], len(first)
    while have < size:
        more = source.read(size - have)
        if not more:
            break
        parts.append(more)
        have += len(more)
    return b"".join(parts)


def read_part(source: BinaryIO, size: int) -> bytearray:
    """`read_full` into one buffer, with no second copy of it (for the large parts of a
    multipart upload, which would otherwise be in memory twice while they are joined)."""
    part = bytearray(size)
    view = memoryview(part)
    have = 0
    while have < size:
        got = source.readinto(view[have:]) if hasattr(source, "readinto") else None
        if got is None:  # no readinto: read and copy in
            more = source.read(size - have)
            got = len(more)
            view[have : have + got] = more
        if not got:
            break
        have += got
    view.release()
    del part[have:]
    return part
