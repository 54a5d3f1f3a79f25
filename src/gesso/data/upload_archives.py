"""Turn an untrusted fine-tune upload (zip, tar, tar.gz or JSONL) into a validated dataset folder.

An archive is checked from its headers before anything is written: every member's path, type and
declared size, the member count, the total size and the compression ratio, of each large member and
of the whole archive. Only `metadata.jsonl` and the members it names are ever extracted; the others
are counted against a small bound and never written. The same limits are enforced again while the
bytes stream, because headers can lie. The extracted folder then goes
through `validate_dataset`, so an upload gets exactly the corpus's checks and one report that
lists every bad row. Nothing is left behind on refusal: extraction happens in a temporary folder
that is renamed into place only when the whole upload is good. The readers themselves are in
`zip_extraction` and `tar_extraction`, the member rules they share in `archive_members`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from gesso.data.dataset_format import METADATA_FILE, DatasetRow
from gesso.data.dataset_previews import preview_grid
from gesso.data.jsonl_uploads import extract_jsonl
from gesso.data.tar_extraction import extract_tar
from gesso.data.upload_budget import CHUNK, ArchiveLimits, UploadRefused, copy_limited
from gesso.data.validation import ImageLimits, RowProblem, validate_dataset
from gesso.data.zip_extraction import extract_zip


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
        try:
            if kind == "jsonl":
                problems, line_map = extract_jsonl(upload, tmp, limits)
            else:
                extract_archive = extract_zip if kind == "zip" else extract_tar
                # named here: the one copy every archive member's bytes go through, seen from this module
                problems, line_map = extract_archive(upload, tmp, limits, copy=copy_limited)
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

