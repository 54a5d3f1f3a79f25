"""`GET /v1/images` (Gesso extension): the caller's tenant's generated images, newest first,
with the parameters that made each one. The web console's library reads it."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request

from gesso.service.deps import CanReadImages, State
from gesso.service.http.client_types import MAX_ID_CHARS, id_query, text_query, unix_seconds_query
from gesso.service.http.errors import ApiError
from gesso.service.http.host_check import base_url
from gesso.service.images.image_responses import image_url
from gesso.service.runtime.app_state import ServiceState
from gesso.store.image_library import LibraryQuery, UnknownCursor, list_library
from gesso.store.tables import ImageRecord, Job

router = APIRouter(prefix="/v1/images", tags=["images"])

MAX_LIMIT = 100


def library_item(state: ServiceState, image: ImageRecord, job: Job, url_base: str) -> dict:
    """One image with its job's parameters; `url` is signed and expires like any image URL."""
    spec = json.loads(job.spec_json)
    item = {
        "id": image.id,
        "object": "image",
        "created_at": int(image.created_at),
        "job_id": job.id,
        "index": image.index,
        "kind": job.kind,
        "model": job.model,
        "prompt": spec.get("prompt", ""),
        "negative_prompt": spec.get("negative", ""),
        "seed": image.seed,
        "steps": spec.get("steps"),
        "guidance_scale": spec.get("guidance"),
        "size": f"{image.width}x{image.height}",
        "content_type": image.content_type,
        "sha256": image.sha256,
        "url": image_url(state, url_base, image.id),
    }
    if job.kind != "generate":
        item["strength"] = spec.get("strength")
    return item


@router.get("", summary="List this tenant's generated images (Gesso extension)")
def list_images(
    request: Request,
    state: State,
    principal: CanReadImages,
    q: text_query(1000, "Text in the prompt, any case") = None,
    model: text_query(MAX_ID_CHARS, "Only images of this model") = None,
    since: unix_seconds_query("Unix seconds, inclusive") = None,
    until: unix_seconds_query("Unix seconds, inclusive") = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    after: id_query("Last image id of the previous page") = None,
) -> dict:
    if since is not None and until is not None and since > until:
        raise ApiError(400, "since must not be later than until", param="since", code="invalid_value")
    query = LibraryQuery(
        tenant_id=principal.tenant_id, q=q, model=model, since=since, until=until, limit=limit, after=after
    )
    with state.sessions() as session:
        try:
            page = list_library(session, query)
        except UnknownCursor:
            message = f"no image with id {after!r} to page after"
            raise ApiError(400, message, param="after", code="invalid_value") from None
        url_base = base_url(request, state)
        data = [library_item(state, image, job, url_base) for image, job in page.entries]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    }
