"""The OpenAI Images API: generations, edits, variations, and the signed image-content URL."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Annotated, Callable

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from gesso.data.validation import ImageLimits
from gesso.engine.model_registry import ModelTraits, model_traits
from gesso.governance.access_errors import Unauthenticated
from gesso.governance.authorisation import Principal
from gesso.governance.roles import Action
from gesso.governance.signed_urls import MAX_TOKEN_CHARS, image_token_valid
from gesso.jobs.model_ids import base_model_of
from gesso.jobs.request_errors import BadRequest
from gesso.service.deps import CanCreateImages, State, require
from gesso.service.http.client_types import HEADER_PATTERN, id_path
from gesso.service.http.errors import not_found
from gesso.service.images.image_requests import (
    ImageRequest,
    edit_request,
    generation_request,
    variation_request,
)
from gesso.service.images.job_submission import MAX_IDEMPOTENCY_KEY, request_fingerprint
from gesso.service.images.job_waiting import answer_image_request
from gesso.service.images.prompt_revision import revised_request
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


def _images_route(path: str, summary: str, openapi_extra: dict | None = None) -> Callable:
    """`router.post` for an endpoint answering an ImagesResponse (or SSE, or 202 for a job)."""
    return router.post(
        path, response_model=ImagesResponseBody, response_model_exclude_none=True, responses=_IMAGE_RESPONSES,
        openapi_extra=openapi_extra, summary=summary,
    )


def _traits(state: ServiceState) -> Callable[[str], ModelTraits]:
    """What a model makes, from its configs on disk (a fine-tuned model makes what its base
    makes); the request thread never loads a pipeline."""
    return lambda model: model_traits(state.settings.models_dir, base_model_of(model))


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


@_images_route("/generations", "Create images from a prompt")
async def create_generation(
    request: Request,
    state: State,
    body: GenerationBody,
    principal: CanCreateImages,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    image_request = await run_in_threadpool(
        generation_request, body, state.settings, state.model_names(principal.tenant_id), _traits(state), _rng
    )
    settings = await run_in_threadpool(  # content policy and model approval, before any job row exists
        enforce_request_governance, state, principal,
        [("prompt", body.prompt), ("negative_prompt", body.negative_prompt)], body.moderation,
        image_request.generation.model,
    )
    image_request = await run_in_threadpool(
        revised_request, state, principal, image_request, body.revise_prompt, settings, body.moderation
    )
    fingerprint = request_fingerprint({"endpoint": "generations", **body.model_dump(exclude_none=True)}, {})
    return await answer_image_request(
        request, principal, image_request, fingerprint, idempotency_key, {}, "image_generation"
    )


@dataclass(frozen=True)
class UploadEndpoint:
    """What tells the edit and variation routes apart; their body is `_create_from_upload`."""

    name: str  # the path's last part, in the request fingerprint
    fields: type  # the multipart text fields' schema
    refused_files: dict[str, str]  # file fields this endpoint refuses -> the message
    takes_mask: bool
    build: Callable[..., ImageRequest]  # (fields, has_mask, settings, model names, sizes, rng)
    event_prefix: str


EDITS = UploadEndpoint(
    "edits", EditFields, {"markup": "markup images are not supported"}, True,
    lambda fields, has_mask, *rest: edit_request(fields, has_mask, *rest), "image_edit",
)
VARIATIONS = UploadEndpoint(
    "variations", VariationFields, {name: f"variations take no {name}" for name in ("mask", "markup")}, False,
    lambda fields, _has_mask, *rest: variation_request(fields, *rest), "image_variation",
)


async def _create_from_upload(
    request: Request, state: ServiceState, principal: Principal, idempotency_key: str | None,
    endpoint: UploadEndpoint,
) -> Response:
    """Read and check the multipart body and its images, build the checked request, check
    content policy and model approval before any job row exists, then queue and answer."""
    form = await read_multipart(request)
    for name, message in endpoint.refused_files.items():
        if single_file(form.files, name, required=False) is not None:
            raise BadRequest(message, name)
    fields = _parse_fields(endpoint.fields, form.fields)
    raw_image = single_file(form.files, "image", required=True)
    raw_mask = single_file(form.files, "mask", required=False) if endpoint.takes_mask else None
    uploads = {"image": await run_in_threadpool(validated_image, raw_image, _limits(state))}
    if raw_mask is not None:
        uploads["mask"] = await run_in_threadpool(validated_mask, raw_mask, raw_image, _limits(state))
    image_request = await run_in_threadpool(
        endpoint.build, fields, raw_mask is not None, state.settings, state.model_names(principal.tenant_id),
        _traits(state), _rng,
    )
    texts = [(name, getattr(fields, name)) for name in ("prompt", "negative_prompt") if name in endpoint.fields.model_fields]
    moderation = getattr(fields, "moderation", None)
    settings = await run_in_threadpool(
        enforce_request_governance, state, principal, texts, moderation, image_request.generation.model,
    )
    image_request = await run_in_threadpool(
        revised_request, state, principal, image_request, getattr(fields, "revise_prompt", None), settings, moderation
    )
    fingerprint = request_fingerprint({"endpoint": endpoint.name, **form.fields}, uploads)
    return await answer_image_request(
        request, principal, image_request, fingerprint, idempotency_key, uploads, endpoint.event_prefix
    )


@_images_route(
    "/edits",
    "Edit an image: inpaint the mask's transparent area, or image-to-image without a mask",
    _multipart_doc(EditFields, {"image": True, "mask": False}),
)
async def create_edit(
    request: Request, state: State, principal: CanCreateImages, idempotency_key: IdempotencyKey = None
) -> Response:
    return await _create_from_upload(request, state, principal, idempotency_key, EDITS)


@_images_route("/variations", "Create variations of an image", _multipart_doc(VariationFields, {"image": True}))
async def create_variation(
    request: Request, state: State, principal: CanCreateImages, idempotency_key: IdempotencyKey = None
) -> Response:
    return await _create_from_upload(request, state, principal, idempotency_key, VARIATIONS)


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
