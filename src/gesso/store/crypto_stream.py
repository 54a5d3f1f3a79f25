"""Segmented sealing of large blobs (format GSB2): AES-256-GCM in fixed-size segments, so a blob
of any size is sealed and opened with one segment in memory at a time.

A sealed blob is `HEADER | segment 0 | segment 1 | ... | segment n-1`, where

    HEADER    = b"GSB2" | segment size (uint32, big-endian) | 7-byte random nonce prefix
    segment i = AES-256-GCM(data key, nonce_i, plaintext_i, aad_i)   (ciphertext + 16-byte tag)
    nonce_i   = prefix | i (uint32, big-endian) | 1 if i is the last segment else 0
    aad_i     = HEADER | ["gesso blob v2", tenant_id, blob_id, i, last]   (JSON)

Every plaintext segment but the last holds exactly the segment size; the last holds the rest (it
may be empty, so even an empty blob has one authenticated segment). This is the STREAM
construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its
Nonce-Reuse Misuse-Resistance", 2015): the index in the nonce and the associated data refuses
reordered segments, the last flag refuses a truncated or extended blob, the random prefix refuses
segments taken from another blob (or an earlier version of the same key), and the tenant and
blob key in the associated data refuse a blob moved under another key. The header is part of
every segment's associated data, so an altered segment size fails too. Any such blob raises
`BlobUnreadable`.

`open_sealed` also opens the whole-blob format GSB1 (`crypto_envelope`), which small blobs still
use, so every blob stored before segmenting existed keeps opening.
"""

from __future__ import annotations

import json
import secrets
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gesso.store.byte_streams import read_full
from gesso.store.crypto_envelope import MAGIC as WHOLE_MAGIC
from gesso.store.crypto_envelope import BlobUnreadable, decrypt_blob
from gesso.store.key_provider import KEY_BYTES

MAGIC = b"GSB2"  # Gesso sealed blob, format 2 (segmented)
SEGMENT_BYTES = 1024 * 1024
MAX_SEGMENT_BYTES = 16 * 1024 * 1024  # a forged header cannot make a reader buffer more
PREFIX_BYTES = 7
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + 4 + PREFIX_BYTES
_MAX_SEGMENTS = 2**32


def _header(segment_bytes: int, prefix: bytes) -> bytes:
    return MAGIC + struct.pack(">I", segment_bytes) + prefix


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def segment_aad(header: bytes, tenant_id: str, blob_id: str, index: int, last: bool) -> bytes:
    return header + json.dumps(["gesso blob v2", tenant_id, blob_id, index, last]).encode()


def seal_segments(
    data_key: bytes, source: BinaryIO, *, tenant_id: str, blob_id: str, segment_bytes: int = SEGMENT_BYTES
) -> Iterator[bytes]:
    """The sealed form of everything `source` yields, as the header then one bytes per segment.

    Reads `source` one segment ahead (to know which segment is the last); raises what `source`
    raises, and ValueError for a bad key or segment size.
    """
    if len(data_key) != KEY_BYTES:
        raise ValueError(f"data key must be {KEY_BYTES} bytes")
    if not 1 <= segment_bytes <= MAX_SEGMENT_BYTES:
        raise ValueError(f"segment size must be 1..{MAX_SEGMENT_BYTES} bytes")
    prefix = secrets.token_bytes(PREFIX_BYTES)
    header = _header(segment_bytes, prefix)
    aead = AESGCM(data_key)
    yield header
    current = read_full(source, segment_bytes)
    index = 0
    while True:
        following = read_full(source, segment_bytes) if len(current) == segment_bytes else b""
        last = not following
        if index >= _MAX_SEGMENTS:
            raise ValueError("blob too large for its segment size")
        yield aead.encrypt(_nonce(prefix, index, last), current,
                           segment_aad(header, tenant_id, blob_id, index, last))
        if last:
            return
        current, index = following, index + 1


def open_segments(data_key: bytes, chunks: Iterable[bytes], *, tenant_id: str, blob_id: str) -> Iterator[bytes]:
    """The plaintext of a GSB2 blob whose bytes arrive as `chunks` (any sizes), one segment at a
    time; raises BlobUnreadable as soon as a segment does not open, or when the blob ends early,
    goes on past its last segment, or is not GSB2."""
    pending = bytearray()
    source = iter(chunks)
    ended = False

    def fill(size: int) -> bool:
        """Read until `pending` holds more than `size` bytes; False once the source has ended."""
        nonlocal ended
        while len(pending) <= size and not ended:
            chunk = next(source, None)
            if chunk is None:
                ended = True
            else:
                pending.extend(chunk)
        return len(pending) > size

    fill(HEADER_BYTES)
    header = bytes(pending[:HEADER_BYTES])
    if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
        raise BlobUnreadable(f"blob {blob_id} is not a segmented Gesso blob")
    del pending[:HEADER_BYTES]
    (segment_bytes,) = struct.unpack(">I", header[len(MAGIC) : len(MAGIC) + 4])
    if not 1 <= segment_bytes <= MAX_SEGMENT_BYTES:
        raise BlobUnreadable(f"blob {blob_id} declares a segment size of {segment_bytes} bytes")
    prefix = header[len(MAGIC) + 4 :]
    sealed_bytes = segment_bytes + TAG_BYTES
    aead = AESGCM(data_key)
    index = 0
    while True:
        # a full segment followed by more bytes is not the last; whatever ends the blob is
        last = not fill(sealed_bytes)
        take = len(pending) if last else sealed_bytes
        if last and not TAG_BYTES <= take <= sealed_bytes:
            raise BlobUnreadable(f"blob {blob_id} ends inside a segment")
        segment = bytes(pending[:take])
        del pending[:take]
        try:
            yield aead.decrypt(_nonce(prefix, index, last), segment,
                               segment_aad(header, tenant_id, blob_id, index, last))
        except InvalidTag as error:
            raise BlobUnreadable(f"blob {blob_id} segment {index} does not open for tenant {tenant_id}") from error
        if last:
            return
        index += 1


def open_sealed(data_key: bytes, chunks: Iterable[bytes], *, tenant_id: str, blob_id: str) -> Iterator[bytes]:
    """The plaintext of a sealed blob in either format: GSB2 segment by segment, GSB1 (small
    blobs, and any stored before segmenting) whole. Raises BlobUnreadable."""
    source = iter(chunks)
    head = b""
    while len(head) < len(MAGIC):
        chunk = next(source, None)
        if chunk is None:
            break
        head += chunk
    rest = _prepend(head, source)
    if head.startswith(MAGIC):
        yield from open_segments(data_key, rest, tenant_id=tenant_id, blob_id=blob_id)
    elif head.startswith(WHOLE_MAGIC):
        yield decrypt_blob(data_key, b"".join(rest), tenant_id=tenant_id, blob_id=blob_id)
    else:
        raise BlobUnreadable(f"blob {blob_id} is not a sealed Gesso blob")


def open_sealed_bytes(data_key: bytes, sealed: bytes, *, tenant_id: str, blob_id: str) -> bytes:
    """`open_sealed` for a blob already in memory."""
    return b"".join(open_sealed(data_key, [sealed], tenant_id=tenant_id, blob_id=blob_id))


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest
