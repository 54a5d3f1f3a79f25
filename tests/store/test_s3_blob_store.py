"""The S3 blob store against a real SeaweedFS, held to the same contract as the local store."""

from __future__ import annotations

import os

import pytest

from gesso.store.blob_store import BlobNotFound, LocalBlobStore, open_blob_store
from gesso.store.s3_blob_store import (
    PART_BYTES,
    BlobStoreMisconfigured,
    BlobStoreUnavailable,
    S3BlobStore,
    parse_blob_url,
)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, seaweed_server, s3_env):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return open_blob_store(tmp_path, seaweed_server.blob_url() + "/blobs")


def test_put_get_exists_and_missing(store) -> None:
    store.put("t1/images/j1/0.png", b"first")
    store.put("t1/images/j1/0.png", b"second")  # overwrite
    assert store.get("t1/images/j1/0.png") == b"second"
    assert store.exists("t1/images/j1/0.png") and not store.exists("t1/images/j1/1.png")
    with pytest.raises(BlobNotFound):
        store.get("t1/images/j1/1.png")


def test_keys_and_delete_prefix_stay_inside_the_prefix(store) -> None:
    for key in ("t1/a/1", "t1/a/2", "t1/ab/1", "t2/a/1"):
        store.put(key, key.encode())
    assert sorted(store.keys("t1/a")) == ["t1/a/1", "t1/a/2"]  # not t1/ab
    store.delete_prefix("t1/a")
    assert sorted(store.keys()) == ["t1/ab/1", "t2/a/1"]
    store.delete_prefix("t1/ab/1")  # one object
    store.delete_prefix("t9")  # nothing there: fine
    assert list(store.keys()) == ["t2/a/1"]


@pytest.mark.parametrize("bad", ["../x/y", "t1/../../etc", "t1//x", ".hidden/x", "t1/a b"])
def test_unsafe_keys_are_refused(store, bad: str) -> None:
    with pytest.raises(ValueError):
        store.put(bad, b"x")


def test_a_large_object_travels_in_parts(seaweed_server, s3_env) -> None:
    bucket, prefix = parse_blob_url(seaweed_server.blob_url())
    store = S3BlobStore(bucket, prefix)
    data = os.urandom(PART_BYTES * 2 + 12345)
    store.put("t1/big/blob", data)
    head = seaweed_server.client().head_object(Bucket=bucket, Key=f"{prefix}/t1/big/blob")
    assert "-" in head["ETag"]  # a multipart upload's ETag is "<md5 of parts>-<count>"
    assert store.get("t1/big/blob") == data


def test_check_names_what_is_wrong(seaweed_server, s3_env) -> None:
    bucket, _ = parse_blob_url(seaweed_server.blob_url())
    S3BlobStore(bucket).check()  # usable: no error
    with pytest.raises(BlobStoreMisconfigured, match="does not exist"):
        S3BlobStore("no-such-bucket-here").check()
    with pytest.raises(BlobStoreMisconfigured, match="credentials refused"):
        S3BlobStore(bucket, client=seaweed_server.client(secret="wrong")).check()


def test_an_unreachable_store_is_reported_not_raised_raw(seaweed_server, monkeypatch) -> None:
    from tests.real_servers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    for name, value in seaweed_server.environment().items():
        if name != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(name, value)
    store = S3BlobStore("anything")
    with pytest.raises(BlobStoreMisconfigured, match="cannot reach"):
        store.check()
    with pytest.raises(BlobStoreUnavailable):
        store.put("t1/x", b"x")


@pytest.mark.parametrize("url", ["s3://", "http://bucket/x", "s3://bucket/../x", "bucket/x"])
def test_bad_blob_urls_are_refused(url: str) -> None:
    with pytest.raises((BlobStoreMisconfigured, ValueError)):
        parse_blob_url(url)


def test_sealed_blobs_reach_the_bucket_as_ciphertext_only(tmp_path, seaweed_server, s3_env) -> None:
    from gesso.store.database import make_engine
    from gesso.store.key_provider import provider_from_file
    from gesso.store.schema_migrations import upgrade_to_head
    from gesso.store.sealed_blob_store import SealedBlobStore
    from gesso.store.tenant_keys import TenantKeyring

    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade_to_head(engine)
    keyring = TenantKeyring(engine, provider_from_file(tmp_path / "master.key", create=True))
    url = seaweed_server.blob_url()
    bucket, prefix = parse_blob_url(url)
    sealed = SealedBlobStore(open_blob_store(tmp_path, url), keyring)
    secret = b"\x89PNG\r\n\x1a\n a prompt: red apple on a table"
    sealed.put("t1/images/j1/0.png", secret)
    assert sealed.get("t1/images/j1/0.png") == secret
    raw = seaweed_server.client().get_object(Bucket=bucket, Key=f"{prefix}/t1/images/j1/0.png")["Body"].read()
    assert b"PNG" not in raw and b"red apple" not in raw and len(raw) > len(secret)
