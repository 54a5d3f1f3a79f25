"""The OpenAI fine-tuning API: create, list, retrieve, events, checkpoints, cancel, and Gesso's
pause and resume; plus each checkpoint's sample grid (the URL its events carry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from gesso.governance.authorisation import Principal
from gesso.governance.roles import Action
from gesso.service import finetune_audit
from gesso.service.app_state import get_state
from gesso.service.auth_dependency import require
from gesso.service.errors import not_found
from gesso.service.finetune_bodies import checkpoint_body, event_body, job_body
from gesso.service.finetune_jobs import change_job, create_job
from gesso.service.finetune_schemas import CursorPage, FineTuningJobBody, FineTuningJobCreate, cursor_page
from gesso.service.job_waiting import base_url
from gesso.store.finetune_records import find_checkpoint, find_job, list_checkpoints, list_events, list_jobs

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine-tuning"])

Limit = Annotated[int, Query(ge=1, le=100)]
CanCreate = Annotated[Principal, Depends(require(Action.IMAGES_CREATE))]
CanRead = Annotated[Principal, Depends(require(Action.JOBS_READ))]


@router.post("", response_model=FineTuningJobBody, summary="Create a fine-tuning job")
def create_fine_tuning_job(request: Request, body: FineTuningJobCreate, principal: CanCreate) -> dict:
    state = get_state(request)
    job = create_job(state, principal, body)
    finetune_audit.fine_tune_started(state, principal, job.id, job.model, job.training_file)
    return job_body(job)


@router.get("", response_model=CursorPage, summary="List fine-tuning jobs, newest first")
def list_fine_tuning_jobs(request: Request, principal: CanRead, after: str | None = None, limit: Limit = 20) -> dict:
    state = get_state(request)
    with state.sessions() as session:
        jobs = list_jobs(session, principal.tenant_id, after, limit + 1)
    return cursor_page(jobs, limit, job_body)


def _own_job(request: Request, principal: Principal, job_id: str):  # noqa: ANN202
    state = get_state(request)
    with state.sessions() as session:
        job = find_job(session, principal.tenant_id, job_id)
    if job is None:
        raise not_found("fine-tuning job", job_id)
    return state, job


@router.get("/{job_id}", response_model=FineTuningJobBody, summary="Read a fine-tuning job")
def read_fine_tuning_job(request: Request, job_id: str, principal: CanRead) -> dict:
    return job_body(_own_job(request, principal, job_id)[1])


@router.get("/{job_id}/events", response_model=CursorPage, summary="A job's events, newest first")
def fine_tuning_events(
    request: Request, job_id: str, principal: CanRead, after: str | None = None, limit: Limit = 20
) -> dict:
    state, _ = _own_job(request, principal, job_id)
    with state.sessions() as session:
        events = list_events(session, principal.tenant_id, job_id, after, limit + 1)
    url = base_url(request, state)
    return cursor_page(events, limit, lambda event: event_body(event, url))


@router.get("/{job_id}/checkpoints", response_model=CursorPage, summary="A job's checkpoints, newest first")
def fine_tuning_checkpoints(
    request: Request, job_id: str, principal: CanRead, after: str | None = None, limit: Limit = 10
) -> dict:
    state, job = _own_job(request, principal, job_id)
    with state.sessions() as session:
        rows = list_checkpoints(session, principal.tenant_id, job_id, after, limit + 1)
    url = base_url(request, state)
    return cursor_page(rows, limit, lambda row: checkpoint_body(row, job, url))


@router.get("/{job_id}/checkpoints/{checkpoint_id}/samples", response_class=Response,
            responses={200: {"content": {"image/png": {}}}},
            summary="The validation prompts rendered at a checkpoint (Gesso)")
def checkpoint_samples(
    request: Request, job_id: str, checkpoint_id: str,
    principal: Annotated[Principal, Depends(require(Action.IMAGES_READ))],
) -> Response:
    state, _ = _own_job(request, principal, job_id)
    with state.sessions() as session:
        row = find_checkpoint(session, principal.tenant_id, job_id, checkpoint_id)
    if row is None or row.samples_blob_key is None:
        raise not_found("checkpoint", checkpoint_id)
    return Response(state.blobs.get(row.samples_blob_key), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=300"})


@router.post("/{job_id}/cancel", response_model=FineTuningJobBody, summary="Cancel a fine-tuning job")
def cancel_fine_tuning_job(request: Request, job_id: str, principal: CanCreate) -> dict:
    return job_body(change_job(get_state(request), principal, job_id, "cancel"))


@router.post("/{job_id}/pause", response_model=FineTuningJobBody,
             summary="Pause a fine-tuning job at a checkpoint (Gesso)")
def pause_fine_tuning_job(request: Request, job_id: str, principal: CanCreate) -> dict:
    return job_body(change_job(get_state(request), principal, job_id, "pause"))


@router.post("/{job_id}/resume", response_model=FineTuningJobBody,
             summary="Resume a paused fine-tuning job from its checkpoint (Gesso)")
def resume_fine_tuning_job(request: Request, job_id: str, principal: CanCreate) -> dict:
    return job_body(change_job(get_state(request), principal, job_id, "resume"))
