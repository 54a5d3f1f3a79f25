"""The OpenAI Images API: generations, edits, variations, and the signed image-content URL."""

from __future__ import annotations

import random
import time
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from gesso.data.validation import ImageLimits
from gesso.engine.generation_request import BadRequest
from gesso.governance.access_errors import Unauthenticated
from gesso.governance.roles import Action
from gesso.governance.signed_urls import MAX_TOKEN_CHARS, image_token_valid
from gesso.service.deps import CanCreateImages, State, require
from gesso.service.http.client_types import HEADER_PATTERN, id_path
from gesso.service.http.errors import not_found
from gesso.service.images.image_requests import edit_request, generation_request, variation_request
from gesso.service.images.job_submission import MAX_IDEMPOTENCY_KEY, request_fingerprint
from gesso.service.images.job_waiting import answer_image_request
from gesso.service.images.schemas import (
    EditFields,
    GenerationBody,
    ImagesResponseBody,
    VariationFields,
)
from gesso.service.images.uploads import (
    read_multipart,
    single_file,
    validated_image,
    validated_mask,
)
from gesso.service.policy.request_governance import enforce_request_governance
from gesso.service.runtime.app_state import ServiceState
from gesso.store.job_records import find_image

router = APIRouter(prefix="/v1/images", tags=["images"])
_rng = random.SystemRandom()

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY, pattern=HEADER_PATTERN),
]
_IMAGE_RESPONSES = {
    200: {"description": "ImagesResponse, or server-sent events when `stream` is true",
          "content": {"text/event-stream": {}}},
    202: {"description": "`background: true`: the queued job (see GET /v1/images/jobs/{id})"},
}


def _multipart_doc(fields: type, files: dict[str, bool]) -> dict:
    """OpenAPI text for a multipart body read by hand (so unknown fields can be refused)."""
    schema = fields.model_json_schema()
    for name, required in files.items():
        schema["properties"][name] = {"type": "string", "format": "binary"}
        if required:
            schema.setdefault("required", []).append(name)
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _sizes(state: ServiceState):
    return lambda model: state.pipelines(model).supported_sizes()


def _limits(state: ServiceState) -> ImageLimits:
    return ImageLimits(max_pixels=state.settings.max_upload_pixels, max_bytes=state.settings.max_body_bytes)


def _parse_fields(model: type, fields: dict[str, str]):
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or "body"
        if first["type"] == "extra_forbidden":
            raise BadRequest(f"unknown parameter {param!r}", param) from None
        if first["type"] == "missing":
            raise BadRequest(f"missing required parameter {param!r}", param) from None
        raise BadRequest(f"invalid value for {param!r}: {first['msg']}", param) from None


@router.post(
    "/generations",
    response_model=ImagesResponseBody,
    response_model_exclude_none=True,
    responses=_IMAGE_RESPONSES,
    summary="Create images from a prompt",
)
async def create_generation(
    request: Request,
    state: State,
    body: GenerationBody,
    principal: CanCreateImages,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    image_request = await run_in_threadpool(
        generation_request, body, state.settings, state.model_names(principal.tenant_id), _sizes(state), _rng
    )
    await run_in_threadpool(  # content policy and model approval, before any job row exists
        enforce_request_governance, state, principal,
        [("prompt", body.prompt), ("negative_prompt", body.negative_prompt)], body.moderation,
        image_request.spec.model,
    )
    fingerprint = request_fingerprint({"endpoint": "generations", **body.model_dump(exclude_none=True)}, {})
    return await answer_image_request(
        request, principal, image_request, fingerprint, idempotency_key, {}, "image_generation"
    )


@router.post(
    "/edits",
    response_model=ImagesResponseBody,
    response_model_exclude_none=True,
    responses=_IMAGE_RESPONSES,
    openapi_extra=_multipart_doc(EditFields, {"image": True, "mask": False}),
    summary="Edit an image: inpaint the mask's transparent area, or image-to-image without a mask",
)
async def create_edit(
    request: Request,
    state: State,
    principal: CanCreateImages,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    form = await read_multipart(request)
    if single_file(form.files, "markup", required=False) is not None:
        raise BadRequest("markup images are not supported", "markup")
    fields = _parse_fields(EditFields, form.fields)
    raw_image = single_file(form.files, "image", required=True)
    raw_mask = single_file(form.files, "mask", required=False)
    image = await run_in_threadpool(validated_image, raw_image, _limits(state))
    uploads = {"image": image}
    if raw_mask is not None:
        uploads["mask"] = await run_in_threadpool(validated_mask, raw_mask, raw_image, _limits(state))
    image_request = await run_in_threadpool(
        edit_request, fields, raw_mask is not None, state.settings, state.model_names(principal.tenant_id), _sizes(state), _rng
    )
    await run_in_threadpool(  # content policy and model approval, before any job row exists
        enforce_request_governance, state, principal,
        [("prompt", fields.prompt), ("negative_prompt", fields.negative_prompt)], getattr(fields, "moderation", None),
        image_request.spec.model,
    )
    fingerprint = request_fingerprint({"endpoint": "edits", **form.fields}, uploads)
    return await answer_image_request(request, principal, image_request, fingerprint, idempotency_key, uploads, "image_edit")


@router.post(
    "/variations",
    response_model=ImagesResponseBody,
    response_model_exclude_none=True,
    responses=_IMAGE_RESPONSES,
    openapi_extra=_multipart_doc(VariationFields, {"image": True}),
    summary="Create variations of an image",
)
async def create_variation(
    request: Request,
    state: State,
    principal: CanCreateImages,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    form = await read_multipart(request)
    for name in ("mask", "markup"):
        if single_file(form.files, name, required=False) is not None:
            raise BadRequest(f"variations take no {name}", name)
    fields = _parse_fields(VariationFields, form.fields)
    image = await run_in_threadpool(validated_image, single_file(form.files, "image", required=True), _limits(state))
    image_request = await run_in_threadpool(
        variation_request, fields, state.settings, state.model_names(principal.tenant_id), _sizes(state), _rng
    )
    await run_in_threadpool(  # model approval (a variation has no prompt to check)
        enforce_request_governance, state, principal, [], None, image_request.spec.model
    )
    fingerprint = request_fingerprint({"endpoint": "variations", **form.fields}, {"image": image})
    return await answer_image_request(
        request, principal, image_request, fingerprint, idempotency_key, {"image": image}, "image_variation"
    )


def _authorise_content(request: Request, state: ServiceState, image_id: str, token: str | None) -> str | None:
    """A valid signed token grants exactly this image (None: no tenant filter needed);
    otherwise the usual key check, and the key's tenant scopes the lookup."""
    if token is not None:
        if not image_token_valid(state.signing_key, image_id, token, time.time()):
            raise Unauthenticated("the image URL token is invalid or has expired")
        return None
    return require(Action.IMAGES_READ)(request, None).tenant_id


@router.get(
    "/{image_id}/content",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
    summary="An image's bytes: with the signed `token` of a `url` response, or with an API key",
)
def image_content(
    request: Request,
    state: State,
    image_id: id_path(),
    # bounded (and checked to be ASCII) by `image_token_valid`: a malformed token of any length
    # is refused like a forged one, with 401
    token: Annotated[
        str | None,
        Query(description=f"Signed, expiring token from a `url` response (at most {MAX_TOKEN_CHARS} characters)"),
    ] = None,
) -> Response:
    tenant_id = _authorise_content(request, state, image_id, token)
    with state.sessions() as session:
        image = find_image(session, image_id, tenant_id)
    if image is None:
        raise not_found("image", image_id)
    return Response(
        state.blobs.get(image.blob_key),
        media_type=image.content_type,
        headers={"Cache-Control": "private, max-age=300"},
    )
