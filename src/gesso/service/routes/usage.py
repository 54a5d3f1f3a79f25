"""`GET /v1/organization/usage` (Gesso extension; admin only): images generated per API key of
the organisation, in total and per UTC day, counted from the stored images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from gesso.governance.authorisation import Principal
from gesso.governance.key_administration import tenant_keys
from gesso.governance.roles import Action
from gesso.jobs.request_errors import BadRequest
from gesso.service.app_state import get_state
from gesso.service.auth_dependency import require
from gesso.service.client_types import unix_seconds_query
from gesso.store.key_usage import key_usage

router = APIRouter(prefix="/v1/organization", tags=["organization"])


def _optional_int(value: float | None) -> int | None:
    return int(value) if value is not None else None


@router.get("/usage", summary="Images generated per API key, in total and per day")
def read_usage(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.KEYS_MANAGE))],
    since: unix_seconds_query("Unix seconds, inclusive") = None,
    until: unix_seconds_query("Unix seconds, inclusive") = None,
) -> dict:
    if since is not None and until is not None and since > until:
        raise BadRequest("since must not be later than until", "since")
    with get_state(request).sessions() as session:
        keys = tenant_keys(session, principal.tenant_id)
        per_key, per_day = key_usage(session, principal.tenant_id, since, until)
    used = {usage.api_key_id: usage for usage in per_key}
    # every key is listed, unused ones with zeros, so the table answers "who used nothing" too
    data = []
    for key in sorted(keys, key=lambda key: (-(used[key.id].images if key.id in used else 0), key.created_at)):
        usage = used.get(key.id)
        data.append({
            "object": "organization.usage.api_key",
            "api_key_id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "role": key.role,
            "revoked": key.revoked_at is not None,
            "images": usage.images if usage else 0,
            "requests": usage.requests if usage else 0,
            "first_image_at": _optional_int(usage.first_image_at) if usage else None,
            "last_image_at": _optional_int(usage.last_image_at) if usage else None,
        })
    daily = [
        {"object": "organization.usage.day", "date": day.date, "api_key_id": day.api_key_id,
         "images": day.images, "requests": day.requests}
        for day in per_day
    ]
    return {
        "object": "list",
        "since": since,
        "until": until,
        "total_images": sum(usage.images for usage in per_key),
        "data": data,
        "daily": daily,
    }
