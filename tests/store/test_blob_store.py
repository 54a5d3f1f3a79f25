from __future__ import annotations

import pytest

from gesso.store.blob_store import BlobNotFound, LocalBlobStore, blob_key


def test_put_get_and_delete_prefix(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    key = blob_key("ten_1", "images", "job_1", "0.png")
    blobs.put(key, b"abc")
    blobs.put(key, b"abcd")  # overwrite in place: a re-run never adds a second file
    assert blobs.get(key) == b"abcd" and blobs.exists(key)
    assert [p.name for p in (tmp_path / "ten_1/images/job_1").iterdir()] == ["0.png"]  # no temp files left
    blobs.delete_prefix(blob_key("ten_1", "images", "job_1"))
    assert not blobs.exists(key)
    with pytest.raises(BlobNotFound):
        blobs.get(key)
    blobs.delete_prefix("ten_1/images/missing")  # nothing there is fine


@pytest.mark.parametrize("bad", ["..", ".hidden", "a/b", "", "x" * 200])
def test_unsafe_key_parts_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        blob_key("ten_1", bad)


@pytest.mark.parametrize("bad", ["../escape", "ten_1/../../x", "/etc/passwd"])
def test_store_refuses_keys_that_leave_its_root(tmp_path, bad):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path / "blobs").put(bad, b"x")
