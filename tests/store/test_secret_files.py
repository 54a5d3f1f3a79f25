import os
import secrets
import stat
import threading

from gesso.store.secret_files import create_secret_set, read_or_create_secret


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


def _race(count: int, action) -> list:  # noqa: ANN001
    barrier = threading.Barrier(count)
    seen: list = []

    def run() -> None:
        barrier.wait()
        seen.append(action())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_without_hard_links_the_first_exclusive_creator_wins(tmp_path, monkeypatch):
    def no_links(source, target):  # noqa: ANN001 - a file system without hard links
        raise PermissionError("hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "keys" / "url-signing.key"
    seen = _race(8, lambda: read_or_create_secret(path, lambda: secrets.token_bytes(32)))
    assert len(set(seen)) == 1 and len(seen[0]) == 32 and path.read_bytes() == seen[0]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(path.parent) == ["url-signing.key"]


def test_racing_creators_of_a_set_all_get_the_first_ones_files(tmp_path):
    folder = tmp_path / "keys"

    def create() -> tuple[bytes, ...]:
        key = secrets.token_bytes(16)
        create_secret_set(folder, [("a.key", key), ("a.pem", b"cert of " + key), ("chain.pem", b"chain of " + key)],
                          public=frozenset({"a.pem", "chain.pem"}))
        return tuple((folder / name).read_bytes() for name in ("a.key", "a.pem", "chain.pem"))

    seen = _race(6, create)
    assert len(set(seen)) == 1
    key, cert, chain = seen[0]
    assert cert == b"cert of " + key and chain == b"chain of " + key  # one creator's whole set
    assert stat.S_IMODE(os.stat(folder / "a.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder / "chain.pem").st_mode) == 0o644
    assert sorted(os.listdir(folder)) == ["a.key", "a.pem", "chain.pem"]


def test_a_set_whose_claim_was_never_finished_is_named(tmp_path):
    import pytest

    (tmp_path / "a.key").write_bytes(b"left by a crash")
    with pytest.raises(TimeoutError, match="chain.pem was never written"):
        create_secret_set(tmp_path, [("a.key", b"new"), ("chain.pem", b"c")], wait_s=0.2)
