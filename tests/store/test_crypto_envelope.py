"""Try to break encryption at rest: grep for plaintext, wrong tenant, rotation, shredded keys."""

from __future__ import annotations

import pytest

from gesso.store.crypto_envelope import (
    BlobUnreadable,
    decrypt_blob,
    encrypt_blob,
    new_data_key,
    rewrap,
    unwrap_data_key,
    wrap_data_key,
)
from gesso.store.key_provider import KeyUnavailable, provider_from_file, write_master_key_file
from tests.conftest import png_bytes

PROMPT = "a confidential quarterly chart of project nightingale"


@pytest.fixture()
def provider(tmp_path):
    return provider_from_file(tmp_path / "keys" / "master.key", create=True)


def test_sealed_blobs_on_disk_contain_no_plaintext(tmp_path, provider):
    data_key = new_data_key()
    wrapped = wrap_data_key(provider, "acme", data_key)
    blobs = tmp_path / "blobs" / "acme"
    blobs.mkdir(parents=True)
    image = png_bytes(colour=(200, 30, 30))
    (blobs / "img_1").write_bytes(encrypt_blob(data_key, image, tenant_id="acme", blob_id="img_1"))
    (blobs / "job_1").write_bytes(
        encrypt_blob(data_key, PROMPT.encode(), tenant_id="acme", blob_id="job_1")
    )
    (tmp_path / "wrapped_key.json").write_text(wrapped.to_json())

    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for needle in (image, image[8:40], b"IHDR", PROMPT.encode(), b"nightingale", data_key):
        assert needle not in on_disk
    assert (
        decrypt_blob(data_key, (blobs / "img_1").read_bytes(), tenant_id="acme", blob_id="img_1")
        == image
    )


def test_blob_does_not_open_for_another_tenant_or_blob_id(provider):
    key = new_data_key()
    sealed = encrypt_blob(key, b"secret", tenant_id="acme", blob_id="img_1")
    with pytest.raises(BlobUnreadable):
        decrypt_blob(key, sealed, tenant_id="globex", blob_id="img_1")
    with pytest.raises(BlobUnreadable):
        decrypt_blob(key, sealed, tenant_id="acme", blob_id="img_2")
    with pytest.raises(BlobUnreadable):
        decrypt_blob(new_data_key(), sealed, tenant_id="acme", blob_id="img_1")


def test_any_altered_byte_is_refused():
    key = new_data_key()
    sealed = bytearray(encrypt_blob(key, b"payload" * 10, tenant_id="t", blob_id="b"))
    for index in (0, 5, 20, len(sealed) - 1):
        bent = bytearray(sealed)
        bent[index] ^= 0x01
        with pytest.raises(BlobUnreadable):
            decrypt_blob(key, bytes(bent), tenant_id="t", blob_id="b")
    with pytest.raises(BlobUnreadable):
        decrypt_blob(key, b"GSB1", tenant_id="t", blob_id="b")


def test_wrapped_key_of_one_tenant_does_not_open_as_another(provider):
    wrapped = wrap_data_key(provider, "acme", new_data_key())
    with pytest.raises(KeyUnavailable):
        unwrap_data_key(provider, "globex", wrapped)


def test_rotate_master_then_decrypt_without_touching_blobs(tmp_path):
    old_path = tmp_path / "old.key"
    old = provider_from_file(old_path, create=True)
    data_key = new_data_key()
    wrapped = wrap_data_key(old, "acme", data_key)
    sealed = encrypt_blob(data_key, b"image bytes", tenant_id="acme", blob_id="img_9")

    new = provider_from_file(tmp_path / "new.key", create=True)
    rewrapped = rewrap(old, new, "acme", wrapped)
    assert rewrapped.master_key_id == new.current_key_id != wrapped.master_key_id
    old_path.unlink()  # the old master key is retired
    recovered = unwrap_data_key(new, "acme", rewrapped)
    assert decrypt_blob(recovered, sealed, tenant_id="acme", blob_id="img_9") == b"image bytes"
    with pytest.raises(KeyUnavailable):
        unwrap_data_key(new, "acme", wrapped)  # the old wrapping needs the retired key


def test_shredded_data_key_leaves_blobs_unreadable(tmp_path, provider):
    keyring = {"acme": wrap_data_key(provider, "acme", data_key := new_data_key())}
    sealed = encrypt_blob(data_key, b"tenant data", tenant_id="acme", blob_id="f1")
    del data_key
    del keyring["acme"]  # erasure: the only copy of the tenant's wrapped data key is destroyed
    # Every key the deployment still holds fails: the master key, and any fresh data key.
    master_keys_file = tmp_path / "keys" / "master.key"
    for candidate in [new_data_key() for _ in range(3)] + [master_keys_file.read_bytes()[:32]]:
        with pytest.raises((BlobUnreadable, ValueError)):
            decrypt_blob(candidate, sealed, tenant_id="acme", blob_id="f1")
    assert b"tenant data" not in sealed


def test_key_file_write_is_atomic(tmp_path):
    path = tmp_path / "master.key"
    write_master_key_file(path, [b"k" * 32])
    assert not (tmp_path / "master.key.new").exists()
