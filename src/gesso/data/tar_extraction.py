"""Extract a tar upload (plain, gzip, bz2 or xz) in two streaming passes, every byte counted."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from gesso.data import archive_members
from gesso.data.dataset_format import METADATA_FILE
from gesso.data.upload_budget import ArchiveLimits, ExpansionBudget, UploadRefused, copy_limited
from gesso.data.validation import RowProblem, safe_relative_path


def extract_tar(
    upload: Path, root: Path, limits: ArchiveLimits, copy: archive_members.CopyMember = copy_limited
) -> archive_members.ExtractResult:
    """Two streaming passes: headers (and metadata.jsonl, to know what is listed) first, nothing
    written; then the listed regular files, under `root`. UploadRefused for an archive-level problem."""
    upload_bytes = upload.stat().st_size
    members: list[tarfile.TarInfo] = []
    metadata: dict[PurePosixPath, bytes] = {}
    declared = 0
    with _open_tar(upload, limits) as archive:
        for member in _tar_members(archive):
            members.append(member)
            declared += member.size if member.isreg() else 0
            archive_members.check_totals(len(members), declared, limits)
            if declared > limits.ratio_floor_bytes and declared > limits.max_ratio * upload_bytes:
                raise UploadRefused(f"the archive expands more than {limits.max_ratio:g}:1 (archive bomb)")
            archive_members.check_expansion(declared, upload_bytes, limits)
            _keep_metadata(archive, member, metadata, limits)
    problems: list[RowProblem] = []
    files: list[tuple[int, PurePosixPath]] = []  # by index: the second pass reads new TarInfo objects
    for index, member in enumerate(members):
        rel, problem = _tar_member_problem(member, limits)
        if problem:
            problems.append(RowProblem(None, member.name, problem))
        elif rel is not None and member.isreg():
            files.append((index, rel))
    targets = dict(archive_members.member_targets(
        files, lambda _, rel: metadata.get(rel, b""), root, limits, problems))
    root.mkdir()
    budget = ExpansionBudget(limits.expansion_allowed(upload_bytes))
    with _open_tar(upload, limits) as archive:
        for index, member in enumerate(_tar_members(archive)):
            if (target := targets.get(index)) is None:
                continue
            if (member.name, member.size) != (members[index].name, members[index].size):
                raise UploadRefused("the archive changed while it was read")
            src = archive.extractfile(member)
            if src is None:
                raise UploadRefused("corrupt tar archive")
            with src:
                try:
                    bound = min(limits.max_member_bytes, member.size)
                    archive_members.write_member(src, target, member.name, bound, budget, problems, copy)
                except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError):
                    raise UploadRefused("corrupt tar archive") from None
    return problems, {}


def _keep_metadata(archive: tarfile.TarFile, member: tarfile.TarInfo, kept: dict[PurePosixPath, bytes],
                   limits: ArchiveLimits) -> None:
    """Hold a possible metadata.jsonl (at the top or one folder down) in memory, all such members
    together within one member's limit."""
    rel = safe_relative_path(member.name.rstrip("/"))
    if rel is None or rel.name != METADATA_FILE or len(rel.parts) > 2 or not member.isreg():
        return
    if member.size + sum(len(v) for v in kept.values()) > limits.max_member_bytes:
        raise UploadRefused(f"the archive's metadata.jsonl files are over the {limits.max_member_bytes} byte limit")
    src = archive.extractfile(member)
    try:
        data = src.read(member.size + 1) if src is not None else b""
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError):
        raise UploadRefused("corrupt tar archive") from None
    kept.setdefault(rel, data[: member.size])


@contextlib.contextmanager
def _open_tar(upload: Path, limits: ArchiveLimits) -> Iterator[tarfile.TarFile]:
    """A stream-mode tar reader over our own decompressor, so every decompressed byte is counted:
    headers, padding and pax records included, not only what the headers declare."""
    # room for the declared data plus a header and padding block per member and the end record
    allowed = limits.max_total_bytes + 2 * tarfile.BLOCKSIZE * (limits.max_members + 1) + tarfile.RECORDSIZE
    with open(upload, "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        if head.startswith(b"\x1f\x8b"):
            inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")
        elif head.startswith(b"BZh"):
            inner = bz2.BZ2File(raw)
        elif head.startswith(b"\xfd7zXZ\x00"):
            inner = lzma.LZMAFile(raw)
        else:
            inner = raw
        try:
            archive = tarfile.open(fileobj=_CountedReader(inner, allowed), mode="r|")
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError):
            raise UploadRefused("not a valid tar archive") from None
        with archive:
            yield archive


def _tar_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    try:
        for member in archive:
            if not archive_members.is_skipped(member.name):
                yield member
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError):
        raise UploadRefused("corrupt tar archive") from None


class _CountedReader:
    """Read from `inner`, refusing to deliver more than `allowed` bytes in all."""

    def __init__(self, inner: BinaryIO, allowed: int):
        self.inner = inner
        self.left = allowed

    def read(self, size: int = -1) -> bytes:
        want = self.left + 1 if size < 0 else min(size, self.left + 1)
        data = self.inner.read(want)
        self.left -= len(data)
        if self.left < 0:
            raise UploadRefused("the archive expands to more bytes than allowed (archive bomb)")
        return data


def _tar_member_problem(member: tarfile.TarInfo, limits: ArchiveLimits) -> tuple[PurePosixPath | None, str | None]:
    rel = safe_relative_path(member.name.rstrip("/"))
    if rel is None:
        return None, "path escapes the dataset folder"
    if member.issym() or member.islnk():
        return None, "archive member is a link"
    if member.ischr() or member.isblk() or member.isfifo():
        return None, "archive member is a device or special file"
    if member.isdir():
        return rel, None
    if not member.isreg() or member.issparse():
        return None, "unsupported archive member type"
    if member.size > limits.max_member_bytes:
        return None, f"archive member is {member.size} bytes, over the {limits.max_member_bytes} byte limit"
    return rel, None
