"""Large blobs stream through every store, sealed and raw, on local disk and a real SeaweedFS:
a 48 MiB object round-trips with the Python heap far below its size, a source that fails part
way leaves no object and no multipart upload, the bucket holds only ciphertext, and blobs sealed
whole (GSB1) and in segments (GSB2) open through either reading path."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tracemalloc
from pathlib import Path

import pytest

from gesso.store.blob_store import BlobNotFound, LocalBlobStore, open_blob_store
from gesso.store.crypto_envelope import BlobUnreadable
from gesso.store.crypto_stream import SEGMENT_BYTES
from gesso.store.s3_blob_store import PART_BYTES
from gesso.store.sealed_blob_store import SealedBlobStore

LARGE = 48 * 1024 * 1024
MARKER = b"project nightingale: the quarterly numbers "


@pytest.fixture()
def keyring(tmp_path):
    from gesso.store.database import make_engine
    from gesso.store.key_provider import provider_from_file
    from gesso.store.schema_migrations import upgrade_to_head
    from gesso.store.tenant_keys import TenantKeyring

    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade_to_head(engine)
    return TenantKeyring(engine, provider_from_file(tmp_path / "master.key", create=True))


@pytest.fixture(params=["local", "s3"])
def raw_store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    seaweed = request.getfixturevalue("seaweed_server")
    request.getfixturevalue("s3_env")
    return open_blob_store(tmp_path, seaweed.blob_url())


@pytest.fixture(params=[False, True], ids=["raw", "sealed"])
def store(request, raw_store, keyring):
    return SealedBlobStore(raw_store, keyring) if request.param else raw_store


def raw_objects(raw_store) -> dict[str, bytes]:
    """Every object as the disk or bucket holds it, temporary files and all."""
    if isinstance(raw_store, LocalBlobStore):
        return {p.relative_to(raw_store.root).as_posix(): p.read_bytes() for p in raw_store.root.rglob("*") if p.is_file()}
    paginator = raw_store.client.get_paginator("list_objects_v2")
    names = [item["Key"] for page in paginator.paginate(Bucket=raw_store.bucket, Prefix=raw_store.prefix)
             for item in page.get("Contents", [])]
    return {name: raw_store.client.get_object(Bucket=raw_store.bucket, Key=name)["Body"].read() for name in names}


def open_uploads(raw_store) -> list[str]:
    """Multipart uploads begun and neither completed nor aborted (none for the local store)."""
    if isinstance(raw_store, LocalBlobStore):
        return []
    answer = raw_store.client.list_multipart_uploads(Bucket=raw_store.bucket, Prefix=raw_store.prefix)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def write_large_file(path: Path, size: int) -> str:
    """A file of `size` random bytes with a marker now and then; returns its sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = (MARKER + os.urandom(1024 * 1024 - len(MARKER)))[:left]
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


class FailingSource(io.RawIOBase):
    """Yields `good` bytes, then fails the way a dropped client connection does."""

    def __init__(self, good: int):
        super().__init__()
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        if self.left <= 0:
            raise ConnectionResetError("the client went away mid-upload")
        size = min(len(buffer), self.left, 1024 * 1024)
        buffer[:size] = b"\x01" * size
        self.left -= size
        return size


@pytest.mark.parametrize("size", [0, 5, SEGMENT_BYTES, PART_BYTES + 3 * SEGMENT_BYTES + 11])
def test_put_stream_and_open_stream_round_trip(store, size: int) -> None:
    data = os.urandom(size)
    store.put_stream("t1/files/f1/upload", io.BytesIO(data))
    with store.open_stream("t1/files/f1/upload") as chunks:
        assert b"".join(chunks) == data
    assert store.get("t1/files/f1/upload") == data
    store.put_stream("t1/files/f1/upload", io.BytesIO(b"second"))  # overwrite
    assert store.get("t1/files/f1/upload") == b"second"


def test_open_stream_of_a_missing_blob_raises_at_once(store) -> None:
    with pytest.raises(BlobNotFound):
        store.open_stream("t1/files/none/upload")


def test_a_large_object_streams_with_a_small_heap(tmp_path, raw_store, keyring) -> None:
    sealed = SealedBlobStore(raw_store, keyring)
    source = tmp_path / "large.bin"
    expected = write_large_file(source, LARGE)
    tracemalloc.start()
    try:
        with source.open("rb") as handle:
            sealed.put_stream("t1/files/big/upload", handle)
        digest, size = hashlib.sha256(), 0
        with sealed.open_stream("t1/files/big/upload") as chunks:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (size, digest.hexdigest()) == (LARGE, expected)
    logging.getLogger("gesso.tests").info("heap peak %.1f MiB for a %d MiB object (%s)", peak / 2**20,
                                          LARGE // 2**20, type(raw_store).__name__)
    assert peak < LARGE / 3, f"heap peak {peak} bytes for a {LARGE}-byte object"
    stored = raw_objects(raw_store)["t1/files/big/upload" if isinstance(raw_store, LocalBlobStore)
                                    else f"{raw_store.prefix}/t1/files/big/upload"]
    assert stored.startswith(b"GSB2") and MARKER not in stored and len(stored) > LARGE


def test_a_source_failing_mid_upload_leaves_nothing(store, raw_store) -> None:
    with pytest.raises(ConnectionResetError):
        store.put_stream("t1/files/f9/upload", FailingSource(PART_BYTES * 2 + 123))
    assert not store.exists("t1/files/f9/upload")
    assert raw_objects(raw_store) == {}  # no object, no temporary file
    assert open_uploads(raw_store) == []  # no multipart upload left holding parts


def test_a_failing_source_does_not_replace_the_blob_already_there(store) -> None:
    store.put_stream("t1/files/f1/upload", io.BytesIO(b"the good copy"))
    with pytest.raises(ConnectionResetError):
        store.put_stream("t1/files/f1/upload", FailingSource(PART_BYTES + 1))
    assert store.get("t1/files/f1/upload") == b"the good copy"


def test_a_multipart_upload_the_store_refuses_is_aborted(raw_store) -> None:
    if isinstance(raw_store, LocalBlobStore):
        pytest.skip("multipart uploads are the object store's")
    from gesso.store.s3_blob_store import BlobStoreUnavailable

    real = raw_store.client.complete_multipart_upload

    def refuse(**kwargs):  # noqa: ANN003, ANN202 - the server's answer to a bad completion
        kwargs["MultipartUpload"]["Parts"][0]["ETag"] = '"0123456789abcdef0123456789abcdef"'
        return real(**kwargs)

    raw_store.client.complete_multipart_upload = refuse
    with pytest.raises(BlobStoreUnavailable):
        raw_store.put_stream("t1/files/f1/upload", io.BytesIO(os.urandom(PART_BYTES + 10)))
    assert open_uploads(raw_store) == [] and not raw_store.exists("t1/files/f1/upload")


def test_moved_or_altered_sealed_streams_do_not_open(raw_store, keyring) -> None:
    sealed = SealedBlobStore(raw_store, keyring)
    data = os.urandom(3 * SEGMENT_BYTES + 5)
    sealed.put_stream("t1/files/f1/upload", io.BytesIO(data))
    ciphertext = raw_store.get("t1/files/f1/upload")
    raw_store.put("t1/files/f2/upload", ciphertext)  # copied under another key
    raw_store.put("t2/files/f1/upload", ciphertext)  # and into another tenant
    for key in ("t1/files/f2/upload", "t2/files/f1/upload"):
        with pytest.raises(BlobUnreadable):
            sealed.open_stream(key)  # refused before a byte is handed out
        with pytest.raises(BlobUnreadable):
            sealed.get(key)
    bent = bytearray(ciphertext)
    bent[-20] ^= 0x01  # inside the last segment
    raw_store.put("t1/files/f1/upload", bytes(bent))
    with sealed.open_stream("t1/files/f1/upload") as chunks:
        assert next(chunks) == data[:SEGMENT_BYTES]
        with pytest.raises(BlobUnreadable, match="segment 3"):
            list(chunks)


def test_both_formats_open_through_both_reading_paths(raw_store, keyring) -> None:
    sealed = SealedBlobStore(raw_store, keyring)
    sealed.put("t1/images/j1/0.png", b"\x89PNG small image")  # whole: GSB1
    sealed.put_stream("t1/files/f1/upload", io.BytesIO(MARKER * 3))  # segmented: GSB2
    assert raw_store.get("t1/images/j1/0.png").startswith(b"GSB1")
    assert raw_store.get("t1/files/f1/upload").startswith(b"GSB2")
    with sealed.open_stream("t1/images/j1/0.png") as chunks:
        assert b"".join(chunks) == b"\x89PNG small image"
    assert sealed.get("t1/files/f1/upload") == MARKER * 3
    for raw in raw_objects(raw_store).values():
        assert b"PNG" not in raw and MARKER not in raw
