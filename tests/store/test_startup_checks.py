"""Bad store settings are refused before anything is written, in one sentence."""

from __future__ import annotations

import pytest

from gesso.store.blob_store import LocalBlobStore
from gesso.store.s3_blob_store import S3BlobStore
from gesso.store.startup_checks import StoreUnusable, check_blob_store, check_database, safe_url
from tests.real_servers import free_port


def test_a_reachable_database_passes(postgres_url: str, tmp_path) -> None:
    check_database(postgres_url)
    check_database(f"sqlite:///{tmp_path / 'g.db'}")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://gesso:s3cret@127.0.0.1:{port}/gesso", "cannot connect"),
        ("nosuchdialect://x/y", "cannot use"),
    ],
)
def test_bad_database_settings_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(StoreUnusable, match=says) as caught:
        check_database(url.format(port=free_port()))
    assert "s3cret" not in str(caught.value)  # the password never reaches a log
    assert "\n" not in str(caught.value)


def test_a_missing_database_on_a_live_server_is_named(postgres_server) -> None:
    with pytest.raises(StoreUnusable, match="cannot connect.*no_such_db"):
        check_database(f"postgresql+psycopg://gesso@127.0.0.1:{postgres_server.port}/no_such_db")


def test_blob_store_checks(seaweed_server, s3_env, tmp_path) -> None:
    check_blob_store(LocalBlobStore(tmp_path))  # nothing to check
    bucket = seaweed_server.create_bucket()
    check_blob_store(S3BlobStore(bucket))
    with pytest.raises(StoreUnusable, match="does not exist"):
        check_blob_store(S3BlobStore("missing-bucket"))
    with pytest.raises(StoreUnusable, match="credentials refused"):
        check_blob_store(S3BlobStore(bucket, client=seaweed_server.client(secret="nope")))


def test_safe_url_hides_passwords() -> None:
    assert "pw" not in safe_url("postgresql+psycopg://u:pw@h/db")
