"""Owner-only secret files created exactly once, safe when several threads or processes (replicas
sharing one keys folder) start together: the content is written to a private temporary file and
hard-linked into place, so a reader never sees a half-written key and a loser of the race reads
the winner's. On a file system without hard links, the file is created with O_EXCL instead (one
creator wins there too) and a reader waits the moment it takes the winner to write it."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable

WRITE_WAIT_S = 5.0  # how long a reader waits for an O_EXCL winner to fill the file it created


def read_or_create_secret(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of `path`; when it does not exist yet, `make()` them and create it (mode 0600)."""
    if path.is_file():
        return _read_written(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = make()
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(staging, path)  # atomic: fails if another writer got there first
        except FileExistsError:
            pass
        except OSError:  # no hard links here (some network or FUSE file systems)
            _create_exclusive(path, content)
    finally:
        os.unlink(staging)
    return _read_written(path)


def _create_exclusive(path: Path, content: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another writer won: its content is read
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _read_written(path: Path) -> bytes:
    """The file's bytes; an empty file is one an O_EXCL winner is still writing, so wait a moment."""
    deadline = time.monotonic() + WRITE_WAIT_S
    data = path.read_bytes()
    while not data and time.monotonic() < deadline:
        time.sleep(0.05)
        data = path.read_bytes()
    return data


def create_secret_set(
    folder: Path, files: list[tuple[str, bytes]], public: frozenset[str] = frozenset(), wait_s: float = 30.0
) -> None:
    """Create files that belong together (a key and the certificates made with it) unless another
    process is doing so: the first file is the claim, created once as `read_or_create_secret`
    does; its winner writes the others in order, and every loser waits until the last one is
    there. Files named in `public` (certificates) are readable by all, the rest owner-only.
    Raises TimeoutError when a claim was made but its set was never finished."""
    folder.mkdir(parents=True, exist_ok=True)
    (claim_name, claim), rest = files[0], files[1:]
    if read_or_create_secret(folder / claim_name, lambda: claim) == claim:
        for name, content in rest:
            _replace_file(folder / name, content, 0o644 if name in public else 0o600)
        return
    last = folder / files[-1][0]
    deadline = time.monotonic() + wait_s
    while not (last.is_file() and last.stat().st_size > 0):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{folder / claim_name} exists but {last} was never written; remove both to start again")
        time.sleep(0.05)


def _replace_file(path: Path, content: bytes, mode: int) -> None:
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(staging, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)
    except BaseException:
        os.unlink(staging)
        raise
