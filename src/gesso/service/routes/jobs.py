"""`GET /v1/images/jobs/{id}` (Gesso extension): a job's status and, once done, its images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from gesso.governance.authorisation import Principal
from gesso.governance.roles import Action, role_allows
from gesso.service.app_state import get_state
from gesso.service.auth_dependency import require
from gesso.service.client_types import id_path
from gesso.service.errors import not_found
from gesso.service.image_responses import job_body
from gesso.service.job_waiting import base_url
from gesso.service.schemas import JobBody
from gesso.store.job_records import find_job, job_images

router = APIRouter(prefix="/v1/images/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobBody, summary="Read a job (poll it after `background: true`)")
def read_job(
    request: Request, job_id: id_path(), principal: Annotated[Principal, Depends(require(Action.JOBS_READ))]
) -> dict:
    state = get_state(request)
    with state.sessions() as session:
        job = find_job(session, principal.tenant_id, job_id)
        if job is None:
            raise not_found("job", job_id)
        images = job_images(session, job.id)
    # auditors see job records, not the pictures
    include_images = role_allows(principal.role, Action.IMAGES_READ)
    return job_body(state, job, images, base_url(request, state), include_images=include_images)
