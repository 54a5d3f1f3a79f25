"""JSONL fine-tune uploads: one `{"image": <base64>, "text": <caption>}` object per line, decoded
into a dataset folder with bounded memory and the upload's byte budget."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import BinaryIO, Iterator

from gesso.data.dataset_format import METADATA_FILE, DatasetRow
from gesso.data.upload_budget import CHUNK, ArchiveLimits, ExpansionBudget, UploadRefused
from gesso.data.validation import RowProblem

IMAGE_FIELDS = ("image", "b64_json")
CAPTION_FIELDS = ("text", "caption")


def extract_jsonl(upload: Path, root: Path, limits: ArchiveLimits) -> tuple[list[RowProblem], dict[int, int]]:
    """Decode every line's image into `images/`, write metadata.jsonl; map its lines to the upload's."""
    problems: list[RowProblem] = []
    rows: list[DatasetRow] = []
    line_map: dict[int, int] = {}
    budget = ExpansionBudget(limits.expansion_allowed(upload.stat().st_size))
    max_line = limits.max_member_bytes * 4 // 3 + 64 * 1024
    (root / "images").mkdir(parents=True)
    with open(upload, "rb") as fh:
        for number, raw in _numbered_lines(fh, max_line):
            if raw is None:
                problems.append(RowProblem(number, None, f"line is longer than {max_line} bytes"))
                continue
            if not raw.strip():
                continue
            if len(rows) + len(problems) >= limits.max_members:
                raise UploadRefused(f"the upload has more than {limits.max_members} lines")
            try:
                file_name, data, row = _parse_jsonl_row(raw, number)
            except ValueError as exc:
                problems.append(RowProblem(number, None, str(exc)))
                continue
            budget.take(len(data))
            (root / file_name).write_bytes(data)
            rows.append(row)
            line_map[len(rows)] = number
    with open(root / METADATA_FILE, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
    return problems, line_map


def _parse_jsonl_row(raw: bytes, number: int) -> tuple[str, bytes, DatasetRow]:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("not valid JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    encoded = next((obj.pop(k) for k in IMAGE_FIELDS if k in obj), None)
    if not isinstance(encoded, str) or not encoded:
        raise ValueError("missing 'image' (a base64 string)")
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("'image' is not valid base64") from None
    caption = next((obj.pop(k) for k in CAPTION_FIELDS if k in obj), "")
    if caption is None:
        caption = ""
    if not isinstance(caption, str):
        raise ValueError("'text' must be a string")
    obj.pop("file_name", None)  # names are ours: an upload never picks a path
    file_name = f"images/{number:06d}{_extension(data)}"
    return file_name, data, DatasetRow(line=number, file_name=file_name, text=caption.strip(), extra=obj)


def _numbered_lines(fh: BinaryIO, max_line: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes) with bounded memory; an over-long line yields (number, None)."""
    number = 0
    while True:
        raw = fh.readline(max_line + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_line and not raw.endswith(b"\n"):
            while (rest := fh.readline(CHUNK)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, raw


def _extension(data: bytes) -> str:
    signatures: dict[bytes, str] = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"BM": ".bmp"}
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in signatures.items() if data.startswith(magic)), ".bin")
