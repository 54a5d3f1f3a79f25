"""The OpenAI Files API for fine-tune datasets: upload (checked row by row), list, read, content,
preview (Gesso extension) and delete (refused while models trained on the file exist, unless
`cascade=true`, which deletes them too)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from gesso.data.upload_archives import UploadRejected
from gesso.data.validation import ImageLimits
from gesso.jobs.request_errors import BadRequest
from gesso.service.deps import CanCreateImages, CanReadImages, CanReadJobs, State, tenant_record
from gesso.service.files.bodies import file_body
from gesso.service.files.content_disposition import attachment_disposition
from gesso.service.files.dataset_uploads import (
    check_upload,
    read_file_upload,
    upload_rejected_response,
)
from gesso.service.files.schemas import FileBody, FileDeleted, FileList
from gesso.service.fine_tuning import audit as fine_tuning_audit
from gesso.service.fine_tuning.state import upload_limits
from gesso.service.http.errors import ApiError, not_found
from gesso.service.http.host_check import base_url
from gesso.service.http.paging import cursor_page
from gesso.service.policy.content_policy import enforce_content_policy
from gesso.store.file_records import (
    FINE_TUNE_PURPOSE,
    FileInUse,
    StorageBudgetExceeded,
    add_file,
    check_storage_budget,
    delete_file,
    find_file,
    list_files,
)
from gesso.store.fine_tuned_adapters import remove_adapter_folder

router = APIRouter(prefix="/v1/files", tags=["files"])

_UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object",
    "required": ["file", "purpose"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "zip or tar of images + metadata.jsonl, or JSONL of {image (base64), text}"},
        "purpose": {"type": "string", "enum": [FINE_TUNE_PURPOSE]},
        "captions_optional": {"type": "boolean", "description": "Gesso: allow images without a caption "
                              "(a job on this file must then set a trigger word)"},
    },
}}}}}


@router.post("", response_model=FileBody, openapi_extra=_UPLOAD_DOC, summary="Upload a fine-tune dataset",
             responses={400: {"description": "Bad upload: `error.problems` lists every bad row, or a caption "
                                             "the organisation's content policy refuses"},
                        413: {"description": "Over the upload limit, or the organisation's storage budget "
                                             "(`storage_budget_exceeded`)"}})
async def upload_file(request: Request, state: State, principal: CanCreateImages) -> Response | dict:
    upload = await read_file_upload(request)
    try:
        if upload.purpose != FINE_TUNE_PURPOSE:
            raise BadRequest(f"purpose {upload.purpose!r} is not supported; Gesso stores '{FINE_TUNE_PURPOSE}' "
                             "datasets", "purpose")
        budget = state.settings.tenant_storage_budget_bytes
        await run_in_threadpool(_within_budget, state, principal.tenant_id, upload.path.stat().st_size, budget)
        image_limits = ImageLimits(max_pixels=state.settings.max_upload_pixels)
        try:
            checked = await run_in_threadpool(check_upload, upload, upload_limits(state.settings), image_limits)
        except UploadRejected as exc:
            return upload_rejected_response(exc)
        await run_in_threadpool(partial(enforce_content_policy, param="file"), state, principal, checked.captions)
        try:
            record = await run_in_threadpool(
                add_file, state.sessions, state.blobs, principal.tenant_id, principal.key_id, upload.purpose,
                upload.path,
                checked.preview_png, checked.info, budget,
            )
        except StorageBudgetExceeded as exc:
            raise _budget_error(exc) from None
    finally:
        upload.discard()
    fine_tuning_audit.file_uploaded(state, principal, record.id, record.purpose, record.bytes, record.sha256)
    return file_body(record, base_url(request, state))


def _within_budget(state, tenant_id: str, size: int, budget: int) -> None:  # noqa: ANN001
    """Refuse before any work when the upload cannot fit the tenant's storage budget."""
    with state.sessions() as session:
        try:
            check_storage_budget(session, tenant_id, size, budget)
        except StorageBudgetExceeded as exc:
            raise _budget_error(exc) from None


def _budget_error(exc: StorageBudgetExceeded) -> ApiError:
    return ApiError(413, str(exc), param="file", code="storage_budget_exceeded")


@router.get("", response_model=FileList, summary="List the tenant's files")
def list_tenant_files(
    request: Request,
    state: State,
    principal: CanReadJobs,
    purpose: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: Literal["asc", "desc"] = "desc",
) -> dict:
    with state.sessions() as session:
        rows = list_files(session, principal.tenant_id, purpose, after, limit + 1, newest_first=order == "desc")
    url = base_url(request, state)
    return cursor_page(rows, limit, lambda row: file_body(row, url))


@router.get("/{file_id}", response_model=FileBody, summary="Read a file's record")
def read_file(request: Request, state: State, file_id: str, principal: CanReadJobs) -> dict:
    record = tenant_record(state, principal.tenant_id, find_file, file_id, "file")
    return file_body(record, base_url(request, state))


@router.get("/{file_id}/content", response_class=Response, summary="The uploaded bytes, as they were sent",
            responses={200: {"content": {"application/octet-stream": {}}}})
def file_content(state: State, file_id: str, principal: CanReadImages) -> Response:
    """Streamed segment by segment as it is opened (a missing or unreadable blob fails before the
    answer starts; Content-Length lets a client see a stream cut short by a later failure)."""
    record = tenant_record(state, principal.tenant_id, find_file, file_id, "file")
    chunks = state.blobs.open_stream(record.blob_key)
    return StreamingResponse(chunks, media_type="application/octet-stream", background=BackgroundTask(chunks.close),
                             headers={"Content-Disposition": attachment_disposition(record.filename),
                                      "Content-Length": str(record.bytes),
                                      "Cache-Control": "private, no-store"})


@router.get("/{file_id}/preview", response_class=Response, summary="A grid of the first images (Gesso)",
            responses={200: {"content": {"image/png": {}}}})
def file_preview(state: State, file_id: str, principal: CanReadImages) -> Response:
    record = tenant_record(state, principal.tenant_id, find_file, file_id, "file")
    return Response(state.blobs.get(record.preview_blob_key), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=300"})


@router.delete("/{file_id}", response_model=FileDeleted, summary="Delete a file",
               responses={409: {"description": "Models were trained on this file (use cascade=true), "
                                               "or a fine-tune still uses it"}})
def remove_file(state: State, file_id: str, principal: CanCreateImages, cascade: bool = False) -> dict:
    try:
        deleted = delete_file(state.sessions, state.blobs, principal.tenant_id, file_id, cascade)
    except FileInUse as exc:
        raise ApiError(409, str(exc), param="cascade" if exc.models else None, code="file_in_use") from None
    if deleted is None:
        raise not_found("file", file_id)
    _, models = deleted
    for model in models:
        remove_adapter_folder(model.adapter_dir)
    names = [model.id for model in models]
    fine_tuning_audit.file_deleted(state, principal, file_id, names)
    return {"id": file_id, "object": "file", "deleted": True, "deleted_models": names}
