"""`GET /v1/images/jobs/{id}` (Gesso extension): a job's status and, once done, its images."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gesso.governance.roles import Action, role_allows
from gesso.service.deps import CanReadJobs, State, tenant_record
from gesso.service.http.client_types import id_path
from gesso.service.http.host_check import base_url
from gesso.service.images.image_responses import job_body
from gesso.service.images.schemas import JobBody
from gesso.store.job_records import find_job, job_images

router = APIRouter(prefix="/v1/images/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobBody, summary="Read a job (poll it after `background: true`)")
def read_job(request: Request, state: State, job_id: id_path(), principal: CanReadJobs) -> dict:
    job = tenant_record(state, principal.tenant_id, find_job, job_id, "job")
    with state.sessions() as session:
        images = job_images(session, job.id)
    # auditors see job records, not the pictures
    include_images = role_allows(principal.role, Action.IMAGES_READ)
    return job_body(state, job, images, base_url(request, state), include_images=include_images)
