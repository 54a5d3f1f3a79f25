"""Extract a zip upload: planned from its central directory, then only the members to keep."""

from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from gesso.data import archive_members
from gesso.data.upload_budget import ArchiveLimits, ExpansionBudget, UploadRefused, copy_limited
from gesso.data.validation import RowProblem, safe_relative_path


def extract_zip(
    upload: Path, root: Path, limits: ArchiveLimits, copy: archive_members.CopyMember = copy_limited
) -> archive_members.ExtractResult:
    """Write the zip's metadata.jsonl and the members it names under `root` (created here once the
    plan from the headers is accepted); UploadRefused for an archive-level problem."""
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UploadRefused("not a valid zip archive") from None
    upload_bytes = upload.stat().st_size
    with archive:
        infos = [i for i in archive.infolist() if not archive_members.is_skipped(i.filename)]
        declared = sum(i.file_size for i in infos)
        archive_members.check_totals(len(infos), declared, limits)
        archive_members.check_expansion(declared, upload_bytes, limits)
        problems: list[RowProblem] = []
        files: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        for info in infos:
            rel, problem = _zip_member_problem(info, limits)
            if problem:
                problems.append(RowProblem(None, info.filename, problem))
            elif rel is not None and not info.is_dir():
                files.append((info, rel))
        targets = archive_members.member_targets(
            files, lambda info, _: _read_zip_metadata(archive, info, limits), root, limits, problems)
        root.mkdir()
        budget = ExpansionBudget(limits.expansion_allowed(upload_bytes))
        for info, target in targets:
            try:
                with archive.open(info) as src:
                    bound = min(limits.max_member_bytes, info.file_size)
                    archive_members.write_member(src, target, info.filename, bound, budget, problems, copy)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
                target.unlink(missing_ok=True)
                problems.append(RowProblem(None, info.filename, "corrupt or unsupported archive member"))
    return problems, {}


def _read_zip_metadata(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits) -> bytes:
    """metadata.jsonl's bytes (in memory: bounded by the member limit), to plan what to extract."""
    bound = min(limits.max_member_bytes, info.file_size)
    try:
        with archive.open(info) as src:
            data = src.read(bound + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise UploadRefused("metadata.jsonl is corrupt or unsupported") from None
    if len(data) > bound:
        raise UploadRefused("metadata.jsonl expands past its declared size (archive bomb)")
    return data


def _zip_member_problem(info: zipfile.ZipInfo, limits: ArchiveLimits) -> tuple[PurePosixPath | None, str | None]:
    rel = safe_relative_path(info.filename.rstrip("/"))
    if rel is None:
        return None, "path escapes the dataset folder"
    mode = (info.external_attr >> 16) & 0xFFFF
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        return None, "archive member is a link"
    if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return None, "archive member is a device or special file"
    if info.flag_bits & 0x1:
        return None, "archive member is encrypted"
    if info.file_size > limits.max_member_bytes:
        return None, f"archive member is {info.file_size} bytes, over the {limits.max_member_bytes} byte limit"
    if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        raise UploadRefused(f"archive member {info.filename} compresses more than {limits.max_ratio:g}:1 (archive bomb)")
    return rel, None
