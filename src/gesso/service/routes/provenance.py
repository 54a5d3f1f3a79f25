"""`POST /v1/provenance/verify` (Gesso extension): did this deployment make the image, when, and
are its Content Credentials intact, stripped or re-encoded? Which model and tenant only to a
caller of the tenant the image was made for."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from gesso.data.image_decoding import ImageRejected
from gesso.governance.authorisation import Principal
from gesso.governance.delivery_stamping import find_origin
from gesso.governance.provenance import report_for_tenant, verify_image
from gesso.governance.roles import Action
from gesso.jobs.request_errors import BadRequest
from gesso.service.app_state import ServiceState, get_state
from gesso.service.auth_dependency import require

router = APIRouter(prefix="/v1/provenance", tags=["provenance"])


def verify_bytes(state: ServiceState, data: bytes, tenant_id: str) -> dict:
    """The provenance report of image bytes as the caller's tenant may see it; BadRequest when
    they are not an image or over the deployment's byte or pixel limit."""
    def lookup(watermark_id: str):  # noqa: ANN202
        with state.sessions() as session:
            return find_origin(session, watermark_id)

    try:
        report = verify_image(
            data, state.governance.identity().trust_anchors_pem, lookup,
            max_bytes=state.settings.max_body_bytes, max_pixels=state.settings.max_upload_pixels,
        )
    except ImageRejected as exc:
        raise BadRequest(f"file: {exc}", "file") from None
    return {"object": "provenance.report", **asdict(report_for_tenant(report, tenant_id))}


@router.post(
    "/verify",
    summary="Verify an image's provenance (multipart field `file`)",
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
)
async def verify(request: Request, principal: Annotated[Principal, Depends(require(Action.PROVENANCE_VERIFY))]) -> dict:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("send the image as multipart/form-data in the field 'file'", "file")
    form = await request.form(max_files=1, max_fields=4)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("missing required file 'file'", "file")
        data = await upload.read()
    finally:
        await form.close()
    if not data:
        raise BadRequest("file is empty", "file")
    return await run_in_threadpool(verify_bytes, get_state(request), data, principal.tenant_id)
