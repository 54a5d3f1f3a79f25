"""The rules zip and tar extraction share: which members go where, which are written, and the
whole-archive bounds checked from the headers before anything is written."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, TypeVar

from gesso.data.dataset_format import METADATA_FILE
from gesso.data.upload_budget import ArchiveLimits, ExpansionBudget, UploadRefused
from gesso.data.validation import RowProblem, safe_relative_path

SKIPPED_FOLDERS = ("__MACOSX",)  # resource forks that macOS adds to every zip it makes

# problems found while extracting, and (for JSONL uploads) dataset line -> upload line
ExtractResult = tuple[list[RowProblem], dict[int, int]]
# copies one member to a new file within its byte bound and the upload's budget (`copy_limited`)
CopyMember = Callable[[BinaryIO, Path, int, ExpansionBudget], None]
Member = TypeVar("Member")  # however an extractor names a member: a ZipInfo, a tar member's index


def is_skipped(name: str) -> bool:
    """Whether a member lies in a folder that archivers add on their own (never counted or read)."""
    return name.split("/", 1)[0] in SKIPPED_FOLDERS


def check_expansion(declared_bytes: int, upload_bytes: int, limits: ArchiveLimits) -> None:
    """The whole-archive ratio: refuse from the headers an upload that would expand past it."""
    if declared_bytes > limits.expansion_allowed(upload_bytes):
        raise UploadRefused(
            f"the archive expands to {declared_bytes} bytes from {upload_bytes}: more than "
            f"{limits.max_archive_ratio:g}:1 past {limits.archive_ratio_floor_bytes} bytes (archive bomb)")


def check_totals(members: int, declared_bytes: int, limits: ArchiveLimits) -> None:
    """Refuse an archive with too many members or too many declared bytes in all."""
    if members > limits.max_members:
        raise UploadRefused(f"the archive has more than {limits.max_members} members")
    if declared_bytes > limits.max_total_bytes:
        raise UploadRefused(f"the archive expands to more than {limits.max_total_bytes} bytes (archive bomb)")


def member_targets(
    files: list[tuple[Member, PurePosixPath]],
    read_metadata: Callable[[Member, PurePosixPath], bytes],
    root: Path,
    limits: ArchiveLimits,
    problems: list[RowProblem],
) -> list[tuple[Member, Path]]:
    """The members to write and where under `root`, from the headers alone: metadata.jsonl and the
    files it names. `files` are the regular members that passed their checks, with their safe paths;
    `read_metadata` gives the bytes of the one that lands as metadata.jsonl. Names listed twice go
    to `problems`; UploadRefused when too many members are not named."""
    rels = [rel for _, rel in files]
    inners = _layout(rels, problems)
    meta = _metadata_index(inners)
    listed = _listed_names(read_metadata(*files[meta])) if meta is not None else set()
    return [(files[i][0], root.joinpath(*inners[i].parts)) for i in _chosen(inners, listed, limits)]


def write_member(
    src: BinaryIO, target: Path, name: str, max_bytes: int, budget: ExpansionBudget, problems: list[RowProblem],
    copy: CopyMember,
) -> None:
    """Copy one member, refusing more than `max_bytes` (its declared size, within the member limit)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        copy(src, target, max_bytes, budget)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        problems.append(RowProblem(None, name, "path clashes with another archive member"))


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
    """The index of the member that lands as the dataset's metadata.jsonl, if any."""
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
