"""Owner-only secret files created exactly once, safe when several threads or processes start
together: the content is written to a private temporary file and hard-linked into place, so a
reader never sees a half-written key and a loser of the race reads the winner's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def read_or_create_secret(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of `path`; when it does not exist yet, `make()` them and create it (mode 0600)."""
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(staging, path)  # atomic: fails if another writer got there first
        except FileExistsError:
            pass
    finally:
        os.unlink(staging)
    return path.read_bytes()
