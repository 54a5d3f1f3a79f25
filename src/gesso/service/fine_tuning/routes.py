"""The OpenAI fine-tuning API: create, list, retrieve, events, checkpoints, cancel, and Gesso's
pause and resume; plus each checkpoint's sample grid (the URL its events carry)."""

from __future__ import annotations

from typing import Annotated, Any, Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gesso.governance.authorisation import Principal
from gesso.service.deps import CanCreateImages, CanReadImages, CanReadJobs, State, tenant_record
from gesso.service.fine_tuning import audit as fine_tuning_audit
from gesso.service.fine_tuning.bodies import checkpoint_body, event_body, job_body
from gesso.service.fine_tuning.jobs import change_job, create_job
from gesso.service.fine_tuning.schemas import FineTuningJobBody, FineTuningJobCreate
from gesso.service.http.errors import not_found
from gesso.service.http.host_check import base_url
from gesso.service.http.paging import CursorPage, cursor_page
from gesso.service.runtime.app_state import ServiceState
from gesso.store.finetune_records import (
    find_checkpoint,
    find_job,
    list_checkpoints,
    list_events,
    list_jobs,
)
from gesso.store.tables import FineTuningJobRecord

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine-tuning"])

Limit = Annotated[int, Query(ge=1, le=100)]
# list_events / list_checkpoints: (session, tenant, job, after, limit) -> rows
JobRows = Callable[[Session, str, str, str | None, int], list[Any]]


@router.post("", response_model=FineTuningJobBody, summary="Create a fine-tuning job")
def create_fine_tuning_job(state: State, body: FineTuningJobCreate, principal: CanCreateImages) -> dict:
    job = create_job(state, principal, body)
    fine_tuning_audit.fine_tune_started(state, principal, job.id, job.model, job.training_file)
    return job_body(job)


@router.get("", response_model=CursorPage, summary="List fine-tuning jobs, newest first")
def list_fine_tuning_jobs(state: State, principal: CanReadJobs, after: str | None = None, limit: Limit = 20) -> dict:
    with state.sessions() as session:
        jobs = list_jobs(session, principal.tenant_id, after, limit + 1)
    return cursor_page(jobs, limit, job_body)


def _own_job(state: ServiceState, principal: Principal, job_id: str) -> FineTuningJobRecord:
    return tenant_record(state, principal.tenant_id, find_job, job_id, "fine-tuning job")


def _job_page(
    state: ServiceState, principal: Principal, job_id: str, rows_of: JobRows, after: str | None, limit: int,
    body: Callable[[Any, FineTuningJobRecord], dict],
) -> dict:
    """One page of a tenant's job's events or checkpoints (404 for another tenant's job)."""
    job = _own_job(state, principal, job_id)
    with state.sessions() as session:
        rows = rows_of(session, principal.tenant_id, job_id, after, limit + 1)
    return cursor_page(rows, limit, lambda row: body(row, job))


@router.get("/{job_id}", response_model=FineTuningJobBody, summary="Read a fine-tuning job")
def read_fine_tuning_job(state: State, job_id: str, principal: CanReadJobs) -> dict:
    return job_body(_own_job(state, principal, job_id))


@router.get("/{job_id}/events", response_model=CursorPage, summary="A job's events, newest first")
def fine_tuning_events(
    request: Request, state: State, job_id: str, principal: CanReadJobs, after: str | None = None, limit: Limit = 20
) -> dict:
    url = base_url(request, state)
    return _job_page(state, principal, job_id, list_events, after, limit, lambda event, _: event_body(event, url))


@router.get("/{job_id}/checkpoints", response_model=CursorPage, summary="A job's checkpoints, newest first")
def fine_tuning_checkpoints(
    request: Request, state: State, job_id: str, principal: CanReadJobs, after: str | None = None, limit: Limit = 10
) -> dict:
    url = base_url(request, state)
    return _job_page(state, principal, job_id, list_checkpoints, after, limit,
                     lambda row, job: checkpoint_body(row, job, url))


@router.get("/{job_id}/checkpoints/{checkpoint_id}/samples", response_class=Response,
            responses={200: {"content": {"image/png": {}}}},
            summary="The validation prompts rendered at a checkpoint (Gesso)")
def checkpoint_samples(state: State, job_id: str, checkpoint_id: str, principal: CanReadImages) -> Response:
    _own_job(state, principal, job_id)
    with state.sessions() as session:
        row = find_checkpoint(session, principal.tenant_id, job_id, checkpoint_id)
    if row is None or row.samples_blob_key is None:
        raise not_found("checkpoint", checkpoint_id)
    return Response(state.blobs.get(row.samples_blob_key), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=300"})


@router.post("/{job_id}/cancel", response_model=FineTuningJobBody, summary="Cancel a fine-tuning job")
def cancel_fine_tuning_job(state: State, job_id: str, principal: CanCreateImages) -> dict:
    return job_body(change_job(state, principal, job_id, "cancel"))


@router.post("/{job_id}/pause", response_model=FineTuningJobBody,
             summary="Pause a fine-tuning job at a checkpoint (Gesso)")
def pause_fine_tuning_job(state: State, job_id: str, principal: CanCreateImages) -> dict:
    return job_body(change_job(state, principal, job_id, "pause"))


@router.post("/{job_id}/resume", response_model=FineTuningJobBody,
             summary="Resume a paused fine-tuning job from its checkpoint (Gesso)")
def resume_fine_tuning_job(state: State, job_id: str, principal: CanCreateImages) -> dict:
    return job_body(change_job(state, principal, job_id, "resume"))
