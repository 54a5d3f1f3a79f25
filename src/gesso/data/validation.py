"""Validation of untrusted images and datasets: the same checks for the shipped corpus and uploads.

Pure functions over bytes and folders; a bad row is reported, never raised mid-way, so a caller
gets the whole list of problems at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image

from gesso.data.dataset_format import METADATA_FILE, DatasetRow, MetadataError, iter_metadata
from gesso.data.image_decoding import ImageRejected, decode_image

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})


@dataclass(frozen=True)
class ImageLimits:
    min_side: int = 16
    max_pixels: int = 4096 * 4096
    max_bytes: int = 20 * 1024 * 1024


@dataclass(frozen=True)
class RowProblem:
    line: int | None
    file_name: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "dataset"
        name = f" ({self.file_name})" if self.file_name else ""
        return f"{where}{name}: {self.reason}"


@dataclass
class ValidationReport:
    rows: list[DatasetRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows)

    def summary(self) -> str:
        if self.ok:
            return f"{len(self.rows)} images, no problems"
        lines = [f"{len(self.problems)} problem(s) in {len(self.rows) + len(self.problems)} rows:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


# The reason an image is refused; the name `check_image_bytes`'s callers catch.
InvalidImage = ImageRejected


def check_image_bytes(data: bytes, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Decode untrusted image bytes through `decode_image` and return the loaded image.

    Refuses empty, oversized, corrupt or non-image data, formats outside `ALLOWED_FORMATS`,
    images smaller than `min_side` and decompression bombs (the pixel count is read from the
    header before any decoding). Raises InvalidImage with a one-line reason.
    """
    return decode_image(
        data, limits.max_bytes, limits.max_pixels, formats=ALLOWED_FORMATS, min_side=limits.min_side
    )


def safe_relative_path(name: str) -> PurePosixPath | None:
    """The path if it stays inside the dataset folder, else None (absolute, `..`, backslashes)."""
    if "\\" in name or "\x00" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts):
        return None
    return path


def validate_dataset(
    root: Path,
    limits: ImageLimits = ImageLimits(),
    require_captions: bool = True,
) -> ValidationReport:
    """Check every row of a dataset folder; return the valid rows and every problem found.

    Problems: missing metadata, malformed lines, unsafe or missing paths, links, bad images,
    duplicate images (same bytes), missing captions (when `require_captions`).
    """
    report = ValidationReport()
    if not (root / METADATA_FILE).is_file():
        report.problems.append(RowProblem(None, None, f"missing {METADATA_FILE}"))
        return report
    seen_bytes: dict[str, int] = {}
    seen_names: set[str] = set()
    root_resolved = root.resolve()
    for item in iter_metadata(root):
        if isinstance(item, MetadataError):
            report.problems.append(RowProblem(item.line, None, str(item).split(": ", 1)[1]))
            continue
        problem = _check_row(item, root, root_resolved, limits, require_captions, seen_names)
        if problem is None:
            data = (root / item.file_name).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen_bytes:
                problem = f"duplicate of the image on line {seen_bytes[digest]}"
            else:
                try:
                    check_image_bytes(data, limits)
                except InvalidImage as exc:
                    problem = str(exc)
        if problem is not None:
            report.problems.append(RowProblem(item.line, item.file_name, problem))
            continue
        seen_bytes[digest] = item.line
        report.sha256[item.file_name] = digest
        report.rows.append(item)
    if not report.rows and not report.problems:
        report.problems.append(RowProblem(None, None, "no images"))
    return report


def _check_row(
    row: DatasetRow,
    root: Path,
    root_resolved: Path,
    limits: ImageLimits,
    require_captions: bool,
    seen_names: set[str],
) -> str | None:
    rel = safe_relative_path(row.file_name)
    if rel is None:
        return "file_name escapes the dataset folder"
    if row.file_name in seen_names:
        return "file_name listed twice"
    seen_names.add(row.file_name)
    path = root / rel
    if path.is_symlink():
        return "file is a link"
    if not path.is_file():
        return "file not found"
    if not path.resolve().is_relative_to(root_resolved):
        return "file_name escapes the dataset folder"
    if require_captions and not row.text:
        return "missing caption"
    return None
