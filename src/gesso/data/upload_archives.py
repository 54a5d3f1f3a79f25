"""Turn an untrusted fine-tune upload (zip, tar, tar.gz or JSONL) into a validated dataset folder.

An archive is checked from its headers before anything is written: every member's path, type and
declared size, the member count, the total size and the compression ratio, of each large member and
of the whole archive. Only `metadata.jsonl` and the members it names are ever extracted; the others
are counted against a small bound and never written. The same limits are enforced again while the
bytes stream, because headers can lie. The extracted folder then goes
through `validate_dataset`, so an upload gets exactly the corpus's checks and one report that
lists every bad row. Nothing is left behind on refusal: extraction happens in a temporary folder
that is renamed into place only when the whole upload is good.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import json
import lzma
import re
import shutil
import stat
import tarfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from gesso.data.dataset_format import METADATA_FILE, DatasetRow
from gesso.data.dataset_previews import preview_grid
from gesso.data.jsonl_uploads import extract_jsonl
from gesso.data.upload_budget import (
    CHUNK,
    ArchiveLimits,
    ExpansionBudget,
    UploadRefused,
    copy_limited,
)
from gesso.data.validation import ImageLimits, RowProblem, safe_relative_path, validate_dataset

SKIPPED_FOLDERS = ("__MACOSX",)  # resource forks that macOS adds to every zip it makes


@dataclass(frozen=True)
class StoredDataset:
    """A good upload, stored: the dataset folder and what a caller shows about it."""

    root: Path
    sha256: str  # of the upload's bytes
    kind: str  # "zip", "tar" or "jsonl"
    image_count: int
    rows: tuple[DatasetRow, ...]
    preview_png: bytes  # a grid of the first images


class UploadRejected(ValueError):
    """The upload is refused; `problems` lists every bad row or the archive-level reason."""

    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s); first: {problems[0]}")

    def summary(self) -> str:
        lines = [f"{len(self.problems)} problem(s) in the upload:"]
        return "\n".join(lines + [f"  {p}" for p in self.problems])


def store_upload(
    upload: Path,
    dest: Path,
    *,
    trigger: str | None = None,
    limits: ArchiveLimits = ArchiveLimits(),
    image_limits: ImageLimits = ImageLimits(),
    preview_count: int = 16,
) -> StoredDataset:
    """Check `upload` and store it as a dataset folder at `dest` (which must not exist yet).

    Captions may be empty when a `trigger` word is given (it stands in for them in training).
    Raises UploadRejected listing every problem; on refusal nothing is left at `dest`.
    """
    if dest.exists():
        raise FileExistsError(f"{dest} already exists")
    size = upload.stat().st_size
    if size == 0:
        raise UploadRejected([RowProblem(None, None, "the upload is empty")])
    if size > limits.max_upload_bytes:
        raise UploadRejected(
            [RowProblem(None, None, f"the upload is {size} bytes, over the {limits.max_upload_bytes} byte limit")]
        )
    kind = detect_upload_kind(upload)
    if kind is None:
        raise UploadRejected([RowProblem(None, None, "not a zip, tar or JSONL upload")])
    digest = file_sha256(upload)
    # created by the extractor once its plan (from the headers) is accepted: a refusal from the
    # headers writes nothing at all
    tmp = dest.parent / f".tmp-{dest.name}-{uuid.uuid4().hex[:8]}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        extract = {"zip": _extract_zip, "tar": _extract_tar, "jsonl": extract_jsonl}[kind]
        try:
            problems, line_map = extract(upload, tmp, limits)
        except UploadRefused as exc:
            raise UploadRejected([RowProblem(None, None, str(exc))]) from None
        report = validate_dataset(tmp, image_limits, require_captions=not trigger)
        problems += [_upload_line(p, line_map) for p in report.problems]
        if problems:
            raise UploadRejected(sorted(problems, key=lambda p: (p.line is not None, p.line or 0)))
        _remove_unlisted(tmp, report.rows)
        preview = preview_grid(tmp, report.rows[:preview_count])
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    rows = tuple(replace(row, line=line_map.get(row.line, row.line)) for row in report.rows)
    return StoredDataset(dest, digest, kind, len(rows), rows, preview)


def detect_upload_kind(upload: Path) -> str | None:
    """'zip', 'tar' (plain or gzip/bz2/xz-compressed) or 'jsonl' from the first bytes, else None."""
    with open(upload, "rb") as fh:
        head = fh.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar":
        return "tar"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    return None


# -- archives ------------------------------------------------------------------------------------

ExtractResult = tuple[list[RowProblem], dict[int, int]]


def _extract_zip(upload: Path, root: Path, limits: ArchiveLimits) -> ExtractResult:
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UploadRefused("not a valid zip archive") from None
    upload_bytes = upload.stat().st_size
    with archive:
        infos = [i for i in archive.infolist() if not _skipped(i.filename)]
        declared = sum(i.file_size for i in infos)
        _check_totals(len(infos), declared, limits)
        _check_expansion(declared, upload_bytes, limits)
        problems: list[RowProblem] = []
        wanted: list[zipfile.ZipInfo] = []
        rels: list[PurePosixPath] = []
        for info in infos:
            rel, problem = _zip_member_problem(info, limits)
            if problem:
                problems.append(RowProblem(None, info.filename, problem))
            elif rel is not None and not info.is_dir():
                wanted.append(info)
                rels.append(rel)
        inners = _layout(rels, problems)
        meta = _metadata_index(inners)
        listed = _listed_names(_read_zip_metadata(archive, wanted[meta], limits)) if meta is not None else set()
        chosen = _chosen(inners, listed, limits)
        root.mkdir()
        budget = ExpansionBudget(limits.expansion_allowed(upload_bytes))
        for index in chosen:
            info, target = wanted[index], root.joinpath(*inners[index].parts)
            try:
                with archive.open(info) as src:
                    _write_member(src, target, info.filename, min(limits.max_member_bytes, info.file_size),
                                  budget, problems)
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


def _extract_tar(upload: Path, root: Path, limits: ArchiveLimits) -> ExtractResult:
    """Two streaming passes: headers (and metadata.jsonl, to know what is listed) first, nothing
    written; then the listed regular files."""
    upload_bytes = upload.stat().st_size
    members: list[tarfile.TarInfo] = []
    metadata: dict[PurePosixPath, bytes] = {}
    declared = 0
    with _open_tar(upload, limits) as archive:
        for member in _tar_members(archive):
            members.append(member)
            declared += member.size if member.isreg() else 0
            _check_totals(len(members), declared, limits)
            if declared > limits.ratio_floor_bytes and declared > limits.max_ratio * upload_bytes:
                raise UploadRefused(f"the archive expands more than {limits.max_ratio:g}:1 (archive bomb)")
            _check_expansion(declared, upload_bytes, limits)
            _keep_metadata(archive, member, metadata, limits)
    problems: list[RowProblem] = []
    wanted: list[int] = []
    rels: list[PurePosixPath] = []
    for index, member in enumerate(members):
        rel, problem = _tar_member_problem(member, limits)
        if problem:
            problems.append(RowProblem(None, member.name, problem))
        elif rel is not None and member.isreg():
            wanted.append(index)
            rels.append(rel)
    inners = _layout(rels, problems)
    meta = _metadata_index(inners)
    listed = _listed_names(metadata.get(rels[meta], b"")) if meta is not None else set()
    targets = {wanted[i]: root.joinpath(*inners[i].parts) for i in _chosen(inners, listed, limits)}
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
                    _write_member(src, target, member.name, min(limits.max_member_bytes, member.size), budget,
                                  problems)
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
            if not _skipped(member.name):
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


def _check_expansion(declared_bytes: int, upload_bytes: int, limits: ArchiveLimits) -> None:
    """The whole-archive ratio: refuse from the headers an upload that would expand past it."""
    if declared_bytes > limits.expansion_allowed(upload_bytes):
        raise UploadRefused(
            f"the archive expands to {declared_bytes} bytes from {upload_bytes}: more than "
            f"{limits.max_archive_ratio:g}:1 past {limits.archive_ratio_floor_bytes} bytes (archive bomb)")


def _check_totals(members: int, declared_bytes: int, limits: ArchiveLimits) -> None:
    if members > limits.max_members:
        raise UploadRefused(f"the archive has more than {limits.max_members} members")
    if declared_bytes > limits.max_total_bytes:
        raise UploadRefused(f"the archive expands to more than {limits.max_total_bytes} bytes (archive bomb)")


def _skipped(name: str) -> bool:
    return name.split("/", 1)[0] in SKIPPED_FOLDERS


def _layout(rels: list[PurePosixPath], problems: list[RowProblem]) -> list[PurePosixPath | None]:
    """Where each member goes inside the dataset folder: inside one top-level folder that holds
    the metadata, that folder is the dataset root. Names listed twice are problems (None)."""
    strip = 0
    if PurePosixPath(METADATA_FILE) not in rels:
        tops = {r.parts[0] for r in rels}
        if len(tops) == 1 and PurePosixPath(next(iter(tops)), METADATA_FILE) in rels:
            strip = 1
    seen: set[PurePosixPath] = set()
    inners: list[PurePosixPath | None] = []
    for rel in rels:
        inner = PurePosixPath(*rel.parts[strip:])
        if inner in seen:
            problems.append(RowProblem(None, str(rel), "listed twice in the archive"))
            inners.append(None)
            continue
        seen.add(inner)
        inners.append(inner)
    return inners


def _metadata_index(inners: list[PurePosixPath | None]) -> int | None:
    return next((i for i, inner in enumerate(inners) if inner == PurePosixPath(METADATA_FILE)), None)


def _listed_names(metadata: bytes) -> set[PurePosixPath]:
    """The file names metadata.jsonl's rows name (bad rows are skipped: validation reports them)."""
    names: set[PurePosixPath] = set()
    for raw in metadata.splitlines():
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("file_name"), str):
            if (rel := safe_relative_path(row["file_name"])) is not None:
                names.add(rel)
    return names


def _chosen(inners: list[PurePosixPath | None], listed: set[PurePosixPath], limits: ArchiveLimits) -> list[int]:
    """Indices of the members to extract: metadata.jsonl and what it names. The rest is never
    written; more than `max_unlisted_members` of them refuses the upload."""
    keep = listed | {PurePosixPath(METADATA_FILE)}
    chosen = [i for i, inner in enumerate(inners) if inner is not None and inner in keep]
    unlisted = sum(1 for inner in inners if inner is not None and inner not in keep)
    # without a metadata.jsonl nothing is extracted and validation says what is missing
    if unlisted > limits.max_unlisted_members and PurePosixPath(METADATA_FILE) in inners:
        raise UploadRefused(f"{unlisted} archive members are not named in metadata.jsonl (at most "
                     f"{limits.max_unlisted_members} may be; they are never extracted)")
    return chosen


def _write_member(
    src: BinaryIO, target: Path, name: str, max_bytes: int, budget: ExpansionBudget, problems: list[RowProblem]
) -> None:
    """Copy one member, refusing more than `max_bytes` (its declared size, within the member limit)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_limited(src, target, max_bytes, budget)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        problems.append(RowProblem(None, name, "path clashes with another archive member"))


# -- after validation ----------------------------------------------------------------------------

def _upload_line(problem: RowProblem, line_map: dict[int, int]) -> RowProblem:
    """Report a JSONL upload's problems by the upload's own line numbers."""
    if problem.line is None or not line_map:
        return problem
    reason = re.sub(r"on line (\d+)", lambda m: f"on line {line_map.get(int(m[1]), m[1])}", problem.reason)
    return replace(problem, line=line_map.get(problem.line, problem.line), file_name=None, reason=reason)


def _remove_unlisted(root: Path, rows: list[DatasetRow]) -> None:
    """Keep only metadata.jsonl and the images it lists (archives carry READMEs, thumbnails...)."""
    keep = {root / METADATA_FILE} | {root / r.file_name for r in rows}
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif path not in keep:
            path.unlink()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

