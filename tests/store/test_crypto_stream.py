"""Try to break the segmented format (GSB2): reorder, truncate, extend, splice segments from
another blob or another version of the same key, move it under another key or tenant, alter its
header. Every one must fail to open; whole-blob GSB1 blobs keep opening."""

from __future__ import annotations

import io
import os

import pytest

from gesso.store.crypto_envelope import BlobUnreadable, encrypt_blob, new_data_key
from gesso.store.crypto_stream import (
    HEADER_BYTES,
    MAGIC,
    TAG_BYTES,
    open_sealed,
    open_sealed_bytes,
    open_segments,
    seal_segments,
)

SEGMENT = 64  # small segments: many of them in a few bytes
KEY = new_data_key()


def seal(data: bytes, blob_id: str = "acme/files/f1/upload", tenant: str = "acme", segment: int = SEGMENT) -> bytes:
    return b"".join(seal_segments(KEY, io.BytesIO(data), tenant_id=tenant, blob_id=blob_id, segment_bytes=segment))


def opened(sealed: bytes, blob_id: str = "acme/files/f1/upload", tenant: str = "acme", chunk: int = 7) -> bytes:
    """Open `sealed` fed in `chunk`-byte pieces (as a network body would arrive)."""
    pieces = [sealed[i : i + chunk] for i in range(0, len(sealed), chunk)]
    return b"".join(open_sealed(KEY, pieces, tenant_id=tenant, blob_id=blob_id))


def segments(sealed: bytes, segment: int = SEGMENT) -> tuple[bytes, list[bytes]]:
    size = segment + TAG_BYTES
    body = sealed[HEADER_BYTES:]
    return sealed[:HEADER_BYTES], [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 5 * SEGMENT + 17])
def test_round_trip_at_every_boundary(size: int) -> None:
    data = os.urandom(size)
    sealed = seal(data)
    assert sealed.startswith(MAGIC)
    full, rest = divmod(size, SEGMENT)
    assert len(sealed) == HEADER_BYTES + (full + (1 if rest or not size else 0)) * TAG_BYTES + size
    for chunk in (1, 7, SEGMENT + TAG_BYTES, 10_000):
        assert opened(sealed, chunk=chunk) == data


def test_plaintext_does_not_appear_in_the_sealed_bytes() -> None:
    data = b"project nightingale quarterly numbers " * 20
    sealed = seal(data)
    assert b"nightingale" not in sealed and data[:SEGMENT] not in sealed


def test_reordered_segments_do_not_open() -> None:
    header, parts = segments(seal(os.urandom(4 * SEGMENT + 5)))
    swapped = [parts[1], parts[0], *parts[2:]]
    with pytest.raises(BlobUnreadable, match="segment 0"):
        opened(header + b"".join(swapped))


def test_truncated_blobs_do_not_open() -> None:
    sealed = seal(os.urandom(4 * SEGMENT + 5))
    header, parts = segments(sealed)
    cases = {
        "last segment dropped": header + b"".join(parts[:-1]),
        "cut inside a segment": sealed[: HEADER_BYTES + SEGMENT + 3],
        "cut inside the last tag": sealed[:-1],
        "header only": header,
        "part of the header": sealed[: HEADER_BYTES - 2],
        "nothing": b"",
    }
    for name, bent in cases.items():
        with pytest.raises(BlobUnreadable):
            opened(bent)
            pytest.fail(name)


def test_a_blob_cut_at_a_full_segment_boundary_does_not_open() -> None:
    # every segment full: dropping the last leaves a blob whose new end is a full, non-final one
    header, parts = segments(seal(os.urandom(3 * SEGMENT)))
    with pytest.raises(BlobUnreadable):
        opened(header + b"".join(parts[:2]))


def test_extended_blobs_do_not_open() -> None:
    sealed = seal(os.urandom(2 * SEGMENT + 9))
    header, parts = segments(sealed)
    for bent in (sealed + parts[-1], sealed + parts[0], sealed + b"\0", sealed + seal(b"more")[HEADER_BYTES:]):
        with pytest.raises(BlobUnreadable):
            opened(bent)


def test_segments_spliced_from_another_blob_do_not_open() -> None:
    data = os.urandom(3 * SEGMENT + 9)
    mine = seal(data, blob_id="acme/files/f1/upload")
    other = seal(data, blob_id="acme/files/f2/upload")
    earlier = seal(data, blob_id="acme/files/f1/upload")  # the same key, written again
    header, parts = segments(mine)
    for donor in (other, earlier):
        _, theirs = segments(donor)
        with pytest.raises(BlobUnreadable, match="segment 1"):
            opened(header + parts[0] + theirs[1] + b"".join(parts[2:]))
        with pytest.raises(BlobUnreadable, match="segment 0"):
            opened(donor[:HEADER_BYTES] + b"".join(parts))  # their header on my segments


def test_a_blob_moved_under_another_key_or_tenant_does_not_open() -> None:
    sealed = seal(os.urandom(2 * SEGMENT))
    assert opened(sealed) == opened(sealed)  # where it belongs it opens
    for blob_id, tenant in (("acme/files/f2/upload", "acme"), ("globex/files/f1/upload", "globex"),
                            ("acme/files/f1/upload", "globex")):
        with pytest.raises(BlobUnreadable, match="segment 0"):
            opened(sealed, blob_id=blob_id, tenant=tenant)
    with pytest.raises(BlobUnreadable):
        b"".join(open_sealed(new_data_key(), [sealed], tenant_id="acme", blob_id="acme/files/f1/upload"))


def test_an_altered_header_or_byte_does_not_open() -> None:
    sealed = seal(os.urandom(2 * SEGMENT + 1))
    for index in (0, 4, 7, 8, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + SEGMENT, len(sealed) - 1):
        bent = bytearray(sealed)
        bent[index] ^= 0x01
        with pytest.raises(BlobUnreadable):
            opened(bytes(bent))
    resized = sealed[:4] + (2 * SEGMENT).to_bytes(4, "big") + sealed[8:]  # same bytes, read as 2 segments
    with pytest.raises(BlobUnreadable):
        opened(resized)
    huge = sealed[:4] + (2**31).to_bytes(4, "big") + sealed[8:]  # would make a reader buffer 2 GiB
    with pytest.raises(BlobUnreadable, match="segment size"):
        opened(huge)


def test_a_bad_segment_fails_when_reached_not_before() -> None:
    data = os.urandom(3 * SEGMENT)
    sealed = bytearray(seal(data))
    sealed[HEADER_BYTES + 2 * (SEGMENT + TAG_BYTES) + 3] ^= 0x01  # inside segment 2
    plain = open_segments(KEY, [bytes(sealed)], tenant_id="acme", blob_id="acme/files/f1/upload")
    assert next(plain) + next(plain) == data[: 2 * SEGMENT]
    with pytest.raises(BlobUnreadable, match="segment 2"):
        next(plain)


def test_whole_blobs_gsb1_keep_opening() -> None:
    data = b"an image sealed before segmenting"
    old = encrypt_blob(KEY, data, tenant_id="acme", blob_id="acme/images/j1/0.png")
    assert old.startswith(b"GSB1")
    assert opened(old, blob_id="acme/images/j1/0.png", chunk=3) == data
    assert open_sealed_bytes(KEY, old, tenant_id="acme", blob_id="acme/images/j1/0.png") == data
    with pytest.raises(BlobUnreadable):
        opened(old, blob_id="acme/images/j2/0.png")
    with pytest.raises(BlobUnreadable, match="not a sealed Gesso blob"):
        opened(b"\x89PNG\r\n\x1a\n plain bytes")


def test_a_failing_source_fails_the_seal() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # noqa: ANN001
            raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        b"".join(seal_segments(KEY, Broken(), tenant_id="acme", blob_id="acme/x"))
