"""A file row -> OpenAI's file object, with Gesso's extra fields."""

from __future__ import annotations

from typing import Any

from gesso.store.tables import FileRecord


def file_body(record: FileRecord, base_url: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": int(record.created_at),
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
        "expires_at": None,
        "status_details": None,
        "sha256": record.sha256,
        "image_count": record.image_count,
        "uncaptioned_count": record.uncaptioned_count,
        "kind": record.kind,
        "preview_url": f"{base_url}/v1/files/{record.id}/preview",
    }
