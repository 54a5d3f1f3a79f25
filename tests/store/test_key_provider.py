"""Master keys from a file or the environment, rotation, and refusal of bad key material."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from gesso.store.key_provider import (
    KeyUnavailable,
    LocalKeyProvider,
    WrappedKey,
    encode_master_key,
    generate_master_key,
    master_key_id,
    provider_from_env,
    provider_from_file,
    read_master_key_file,
    rotated_key_file,
)


def test_key_file_is_created_private_and_reloads_the_same_key(tmp_path):
    path = tmp_path / "keys" / "master.key"
    first = provider_from_file(path, create=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    wrapped = first.wrap(b"k" * 32, b"ctx")
    assert provider_from_file(path).unwrap(wrapped, b"ctx") == b"k" * 32


def test_processes_creating_the_key_file_together_all_use_the_first_key(tmp_path):
    """Replicas that start at once on one shared keys folder: one key, never one per process."""
    import subprocess
    import sys

    path = tmp_path / "shared-keys" / "master.key"
    script = ("import sys; from pathlib import Path; from gesso.store.key_provider import provider_from_file; "
              "print(provider_from_file(Path(sys.argv[1]), create=True).current_key_id)")
    creators = [subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
                for _ in range(4)]
    ids = {creator.communicate(timeout=60)[0].strip() for creator in creators}
    assert len(ids) == 1 and ids == {provider_from_file(path).current_key_id}
    assert len(read_master_key_file(path)) == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_missing_key_file_is_an_error_unless_asked_to_create(tmp_path):
    with pytest.raises(FileNotFoundError):
        provider_from_file(tmp_path / "absent.key")


def test_env_provider_reads_base64_keys():
    key = generate_master_key()
    provider = provider_from_env({"GESSO_MASTER_KEY": encode_master_key(key)})
    assert provider.current_key_id == master_key_id(key)
    with pytest.raises(KeyError):
        provider_from_env({})


@pytest.mark.parametrize("bad", ["not base64!!", base64.b64encode(b"short").decode()])
def test_bad_key_material_is_refused(bad):
    with pytest.raises(ValueError):
        provider_from_env({"GESSO_MASTER_KEY": bad})


def test_wrapped_key_does_not_open_under_another_context_or_master_key():
    provider = LocalKeyProvider([generate_master_key()])
    wrapped = provider.wrap(b"d" * 32, b"tenant-a")
    with pytest.raises(KeyUnavailable):
        provider.unwrap(wrapped, b"tenant-b")
    with pytest.raises(KeyUnavailable):
        LocalKeyProvider([generate_master_key()]).unwrap(wrapped, b"tenant-a")
    assert b"d" * 32 not in wrapped.to_json().encode()
    assert WrappedKey.from_json(wrapped.to_json()) == wrapped


def test_rotated_key_file_wraps_with_the_new_key_and_still_opens_old(tmp_path):
    path = tmp_path / "master.key"
    old = provider_from_file(path, create=True)
    wrapped = old.wrap(b"x" * 32, b"c")
    new_key = rotated_key_file(path)
    rotated = provider_from_file(path)
    assert rotated.current_key_id == master_key_id(new_key) != old.current_key_id
    assert rotated.unwrap(wrapped, b"c") == b"x" * 32
    assert len(read_master_key_file(path)) == 2
