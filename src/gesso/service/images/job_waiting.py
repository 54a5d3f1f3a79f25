"""Answer an accepted job: wait for it (plain response), stream it (SSE), or return it at once
(`background=true`). Progress comes from this process's worker as events; a job that a worker in
another process runs is polled (`job_poll_s`), its previews read from the database. The database
is the truth, so a missed event only delays an answer by one poll."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import AsyncIterator

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gesso.engine.progress_events import PartialImage
from gesso.governance.authorisation import Principal
from gesso.service.deps import get_state
from gesso.service.http.draining import RETRY_AFTER_S
from gesso.service.http.errors import ApiError
from gesso.service.http.host_check import base_url
from gesso.service.http.request_context import request_id_var
from gesso.service.images.image_requests import ImageRequest
from gesso.service.images.image_responses import (
    images_body,
    job_body,
    sse_event,
    stream_event_fields,
)
from gesso.service.images.job_submission import submit_job
from gesso.service.runtime.app_state import ServiceState
from gesso.store.blob_keys import BlobNotFound
from gesso.store.ids import new_id
from gesso.store.job_previews import stored_previews
from gesso.store.job_records import find_job, job_images
from gesso.store.tables import ImageRecord, Job
from gesso.store.transient_errors import is_transient

POLL_SECONDS = 1.0
TERMINAL = ("succeeded", "failed")


async def answer_image_request(
    request: Request,
    principal: Principal,
    image_request: ImageRequest,
    fingerprint: str,
    idempotency_key: str | None,
    uploads: dict[str, bytes],
    event_prefix: str,
) -> Response:
    """Queue the job, then answer in the way the request asked for."""
    state = get_state(request)
    job_id = new_id("job")
    partials = image_request.stream and image_request.generation.partial_images > 0
    events = state.events.subscribe(job_id, partials=partials)
    handed_to_stream = False
    try:
        job = await run_in_threadpool(
            submit_job,
            state,
            principal,
            image_request,
            job_id=job_id,
            fingerprint=fingerprint,
            idempotency_key=idempotency_key,
            request_id=request_id_var.get(),
            uploads=uploads,
        )
        if job.id != job_id:  # an idempotent retry: follow the earlier job
            state.events.unsubscribe(job_id, events)
            job_id = job.id
            events = state.events.subscribe(job_id, partials=partials)
        state.worker.wake()
        if image_request.run_in_background:
            job, images = await _read_job(state, principal.tenant_id, job_id)
            return JSONResponse(job_body(state, job, images, base_url(request, state)), status_code=202)
        if image_request.stream:
            handed_to_stream = True
            return StreamingResponse(
                _stream(state, principal.tenant_id, job_id, events, image_request, event_prefix),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Gesso-Job-Id": job_id},
            )
        job, images = await _wait(state, principal.tenant_id, job_id, events)
        if job.status == "failed":
            raise ApiError(500, job.error_message or "the job failed", type="server_error", code=job.error_code)
        body = images_body(state, job, images, base_url(request, state), quality=image_request.quality)
        return JSONResponse(body, headers={"X-Gesso-Job-Id": job_id})
    finally:
        if not handed_to_stream:
            state.events.unsubscribe(job_id, events)


async def _read_job(state: ServiceState, tenant_id: str, job_id: str) -> tuple[Job, list[ImageRecord]]:
    def read() -> tuple[Job, list[ImageRecord]]:
        with state.sessions() as session:
            job = find_job(session, tenant_id, job_id)
            return job, job_images(session, job_id) if job is not None and job.status == "succeeded" else []

    return await run_in_threadpool(read)


def poll_seconds(state: ServiceState, job_id: str) -> float:
    """How long to wait for an event before reading the job again: this process's worker tells
    when its jobs end; a job that may run elsewhere is read every `job_poll_s`."""
    if state.runs_jobs_alone or job_id in state.worker.running_jobs:
        return POLL_SECONDS
    return min(POLL_SECONDS, state.settings.job_poll_s)


async def _stored_previews(
    state: ServiceState, tenant_id: str, job_id: str, seen: set[tuple[int, int]]
) -> list[PartialImage]:
    """The previews a worker in another process stored for the job and this stream has not sent."""

    def read() -> list[PartialImage]:
        with state.sessions() as session:
            rows = [row for row in stored_previews(session, tenant_id, job_id)
                    if (row.image_index, row.partial_index) not in seen]
        found = []
        for row in rows:
            try:
                data = state.blobs.get(row.blob_key)
            except BlobNotFound:  # pruned a moment ago
                continue
            found.append(PartialImage(job_id, row.image_index, row.partial_index, data))
        return found

    if state.runs_jobs_alone:
        return []  # this process's worker runs every job: its events carry every preview
    return await run_in_threadpool(read)


async def _next_event(state: ServiceState, tenant_id: str, job_id: str, events: asyncio.Queue):
    """The next partial image, or the job as it is now (after an event or a poll of at most
    POLL_SECONDS), so the caller checks its deadlines at least that often."""
    try:
        event = await asyncio.wait_for(events.get(), poll_seconds(state, job_id))
    except asyncio.TimeoutError:
        event = None
    if isinstance(event, PartialImage):
        return event
    return await _read_job(state, tenant_id, job_id)  # after JobFinished too: the row is the truth


def cut_short_by_shutdown(state: ServiceState, job: Job) -> bool:
    """A waiting request gives up on its job when the server is shutting down and the job will
    not finish here: it is still queued, or the grace period for the running batch is over."""
    return state.drain.active and (job.status == "queued" or state.drain.grace_over)


def shutting_down(job_id: str) -> ApiError:
    """503 that names the kept job: a retry with the same Idempotency-Key finds it again."""
    return ApiError(
        503,
        f"the server is shutting down; job {job_id} is kept and runs after the restart: retry with "
        f"the same Idempotency-Key, or poll GET /v1/images/jobs/{job_id}",
        type="server_error",
        code="server_shutting_down",
        headers={"Retry-After": str(RETRY_AFTER_S), "X-Gesso-Job-Id": job_id},
    )


async def _wait(
    state: ServiceState, tenant_id: str, job_id: str, events: asyncio.Queue
) -> tuple[Job, list[ImageRecord]]:
    deadline = time.monotonic() + state.settings.request_timeout_s
    job, images = await _read_job(state, tenant_id, job_id)
    while job.status not in TERMINAL:
        if cut_short_by_shutdown(state, job):
            raise shutting_down(job_id)
        if time.monotonic() > deadline:
            raise ApiError(
                504,
                f"job {job_id} is still {job.status}; poll GET /v1/images/jobs/{job_id} for its result",
                type="timeout",
                code="job_timeout",
                headers={"X-Gesso-Job-Id": job_id},
            )
        try:
            got = await _next_event(state, tenant_id, job_id, events)
        except Exception as exc:
            if not is_transient(exc):
                raise
            continue  # the database is locked or away for a moment: the job is accepted, keep waiting
        if not isinstance(got, PartialImage):
            job, images = got
    return job, images


async def _stream(
    state: ServiceState,
    tenant_id: str,
    job_id: str,
    events: asyncio.Queue,
    image_request: ImageRequest,
    event_prefix: str,
) -> AsyncIterator[str]:
    generation = image_request.generation
    partials = generation.partial_images > 0
    seen: set[tuple[int, int]] = set()  # (image, partial): a preview comes once, from either source

    def partial_event(partial: PartialImage) -> str:
        seen.add((partial.image_index, partial.partial_index))
        payload = {
            "type": f"{event_prefix}.partial_image",
            "b64_json": base64.b64encode(partial.data).decode(),
            "partial_image_index": partial.partial_index,
            "image_index": partial.image_index,  # Gesso: which of the n images
            **stream_event_fields(generation, image_request.quality),
        }
        return sse_event(payload["type"], payload)

    try:
        job, images = await _read_job(state, tenant_id, job_id)
        while job.status not in TERMINAL:
            if cut_short_by_shutdown(state, job):
                error = shutting_down(job_id)
                body = {"message": error.message, "type": error.type, "param": None, "code": error.code}
                yield sse_event("error", {"type": "error", "error": body})
                return
            try:
                got = await _next_event(state, tenant_id, job_id, events)
                stored = await _stored_previews(state, tenant_id, job_id, seen) if partials else []
            except Exception as exc:
                if not is_transient(exc):
                    raise
                continue  # a locked database: the job is accepted, keep waiting
            if isinstance(got, PartialImage):
                stored.insert(0, got)
            else:
                job, images = got
            for partial in stored:
                if (partial.image_index, partial.partial_index) not in seen:
                    yield partial_event(partial)
        if job.status == "failed":
            error = {"message": job.error_message or "the job failed", "type": "server_error",
                     "param": None, "code": job.error_code}
            yield sse_event("error", {"type": "error", "error": error})
            return
        if partials:  # previews stored after the last poll, before the job ended
            try:
                late = await _stored_previews(state, tenant_id, job_id, seen)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                late = []  # previews are a courtesy: the images themselves follow
            for partial in late:
                yield partial_event(partial)
        for image in images:
            data = await run_in_threadpool(state.blobs.get, image.blob_key)
            payload = {
                "type": f"{event_prefix}.completed",
                "b64_json": base64.b64encode(data).decode(),
                "image_index": image.index,
                **stream_event_fields(generation, image_request.quality),
                **({"revised_prompt": generation.revised_prompt} if generation.revised_prompt else {}),
            }
            yield sse_event(payload["type"], payload)
    finally:
        state.events.unsubscribe(job_id, events)
