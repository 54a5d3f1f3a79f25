"""The bounds on one fine-tune upload and the byte budget that enforces them while it is written.

Shared by the archive extractors (zip, tar) and the JSONL decoder: every byte an upload expands to
is taken from one `ExpansionBudget`, so many small members cannot add up past the limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MiB = 1024 * 1024
CHUNK = 1 * MiB


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits on an upload; a value over any of them refuses the whole upload."""

    max_upload_bytes: int = 512 * MiB
    max_members: int = 10_000
    max_member_bytes: int = 32 * MiB
    max_total_bytes: int = 1024 * MiB
    # uncompressed / compressed; PNG and JPEG barely compress, so a large ratio means a bomb
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1 * MiB  # small members (metadata.jsonl) may compress well
    # the whole archive: all members together may expand to the floor, or to this ratio beyond it
    # (many small members of zeros pass every per-member check; their sum does not)
    max_archive_ratio: float = 20.0
    archive_ratio_floor_bytes: int = 8 * MiB
    max_unlisted_members: int = 64  # members metadata.jsonl does not name (never extracted)

    def expansion_allowed(self, upload_bytes: int) -> int:
        """Bytes an upload of `upload_bytes` may expand to, all members together."""
        by_ratio = max(self.archive_ratio_floor_bytes, int(self.max_archive_ratio * upload_bytes))
        return min(self.max_total_bytes, by_ratio)


class UploadRefused(Exception):
    """An archive-level problem that stops reading at once (bomb, corrupt container)."""


class ExpansionBudget:
    """Bytes still allowed across all members of one upload."""

    def __init__(self, total: int):
        self.left = total

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise UploadRefused("the archive expands to more bytes than allowed (archive bomb)")


def copy_limited(src: BinaryIO, target: Path, max_bytes: int, budget: ExpansionBudget) -> None:
    """Copy `src` to a new file `target`; UploadRefused past `max_bytes` or the budget."""
    written = 0
    # "xb": an archive can never overwrite a file it wrote before (or anything else)
    with open(target, "xb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise UploadRefused(f"an archive member expands past {max_bytes} bytes, its declared size or the "
                             "member limit (archive bomb)")
            budget.take(len(chunk))
            out.write(chunk)
