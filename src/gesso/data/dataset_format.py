"""Gesso's dataset format: a folder of images plus `metadata.jsonl` (one JSON object per image).

Each line carries at least `file_name` (relative to the folder) and `text` (the caption); any
other field (`source`, `style`, `licence`, `concept`, ...) is kept as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

METADATA_FILE = "metadata.jsonl"


@dataclass(frozen=True)
class DatasetRow:
    line: int
    file_name: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"file_name": self.file_name, "text": self.text, **self.extra}


class MetadataError(ValueError):
    """A `metadata.jsonl` line that is not a JSON object with the required fields."""

    def __init__(self, line: int, message: str):
        super().__init__(f"metadata.jsonl line {line}: {message}")
        self.line = line


def parse_metadata_line(raw: str, line: int) -> DatasetRow:
    """Parse one metadata line; raise MetadataError naming the line when it is malformed."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MetadataError(line, f"not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise MetadataError(line, "not a JSON object")
    file_name = obj.pop("file_name", None)
    if not isinstance(file_name, str) or not file_name:
        raise MetadataError(line, "missing 'file_name'")
    text = obj.pop("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise MetadataError(line, "'text' must be a string")
    return DatasetRow(line=line, file_name=file_name, text=text.strip(), extra=obj)


def iter_metadata(root: Path) -> Iterator[DatasetRow | MetadataError]:
    """Yield each row of `root/metadata.jsonl`, or the MetadataError for a malformed line."""
    with open(root / METADATA_FILE, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield parse_metadata_line(raw, number)
            except MetadataError as exc:
                yield exc


def read_rows(root: Path) -> list[DatasetRow]:
    """All rows of a dataset that is known to be valid (raises on the first malformed line)."""
    rows = []
    for item in iter_metadata(root):
        if isinstance(item, MetadataError):
            raise item
        rows.append(item)
    return rows


def write_metadata(root: Path, rows: list[DatasetRow]) -> None:
    with open(root / METADATA_FILE, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
