import os
import secrets
import stat
import threading

from gesso.store.secret_files import read_or_create_secret


def test_racing_creators_all_get_the_one_secret_and_no_staging_file_is_left(tmp_path):
    path = tmp_path / "keys" / "signing.key"
    barrier = threading.Barrier(8)
    seen: list[bytes] = []

    def create() -> None:
        barrier.wait()
        seen.append(read_or_create_secret(path, lambda: secrets.token_bytes(32)))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1 and len(seen[0]) == 32
    assert path.read_bytes() == seen[0]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(path.parent) == ["signing.key"]
    assert read_or_create_secret(path, lambda: b"other") == seen[0]  # never overwritten
