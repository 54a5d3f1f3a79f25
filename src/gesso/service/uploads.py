"""Multipart uploads of the edits and variations endpoints: read, validate, normalise.

Untrusted bytes go through `data.validation.check_image_bytes` (size, format, corrupt data,
decompression bombs) and are stored re-encoded as plain PNG.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from gesso.data.validation import ImageLimits, InvalidImage, check_image_bytes
from gesso.engine.image_encoding import has_alpha, to_png_bytes
from gesso.jobs.request_errors import BadRequest

FILE_FIELDS = {"image", "image[]", "mask", "markup"}


@dataclass(frozen=True)
class MultipartRequest:
    fields: dict[str, str]
    files: dict[str, list[bytes]]


async def read_multipart(request: Request) -> MultipartRequest:
    """Text fields and file parts; BadRequest for a non-multipart body or a repeated field."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise BadRequest("send this request as multipart/form-data", "body")
    try:
        form = await request.form(max_files=8, max_fields=64)
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart body: {exc.message}", "body") from None
    fields: dict[str, str] = {}
    files: dict[str, list[bytes]] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name not in FILE_FIELDS:
                    raise BadRequest(f"unexpected file field {name!r}", name)
                files.setdefault(name.removesuffix("[]"), []).append(await value.read())
            elif name in FILE_FIELDS:
                raise BadRequest(f"{name} must be a file upload", name.removesuffix("[]"))
            elif name in fields:
                raise BadRequest(f"field {name!r} given twice", name)
            else:
                fields[name] = value
    finally:
        await form.close()
    return MultipartRequest(fields, files)


def single_file(files: dict[str, list[bytes]], name: str, required: bool) -> bytes | None:
    parts = files.get(name, [])
    if not parts:
        if required:
            raise BadRequest(f"missing required file {name!r}", name)
        return None
    if len(parts) > 1:
        raise BadRequest(f"only one {name} file is supported", name)
    return parts[0]


def validated_image(data: bytes, limits: ImageLimits, param: str = "image") -> bytes:
    """Checked upload -> RGB PNG bytes; BadRequest(param) for anything unsafe or unreadable."""
    try:
        return to_png_bytes(check_image_bytes(data, limits))
    except InvalidImage as exc:
        raise BadRequest(f"{param}: {exc}", param) from None


def validated_mask(data: bytes, image_data: bytes, limits: ImageLimits) -> bytes:
    """An OpenAI mask: a PNG with an alpha channel (transparent = edit), as large as the image."""
    try:
        mask = check_image_bytes(data, limits)
        image = check_image_bytes(image_data, limits)
    except InvalidImage as exc:
        raise BadRequest(f"mask: {exc}", "mask") from None
    if not has_alpha(mask):
        raise BadRequest("mask must have an alpha channel (transparent pixels mark the area to edit)", "mask")
    if mask.size != image.size:
        raise BadRequest(
            f"mask is {mask.size[0]}x{mask.size[1]} but image is {image.size[0]}x{image.size[1]}; they must match",
            "mask",
        )
    return to_png_bytes(mask, keep_alpha=True)
