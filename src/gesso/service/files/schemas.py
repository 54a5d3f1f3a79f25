"""Response shapes of the OpenAI Files API the OpenAPI document shows, with Gesso's extra fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class FileBody(BaseModel):
    """OpenAI's file object, plus Gesso's `sha256`, `image_count`, `kind` and `preview_url`."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str
    expires_at: int | None = None
    status_details: str | None = None
    sha256: str
    image_count: int
    uncaptioned_count: int
    kind: str
    preview_url: str


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileBody]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool
    deleted_models: list[str]
