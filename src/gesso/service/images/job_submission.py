"""Accept a request as a job row: idempotency, tenant quota, bounded queue, uploads; all or
nothing (a refused request leaves no row and no blob)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gesso.governance.authorisation import Principal
from gesso.governance.quotas import check_image_quota
from gesso.jobs.queue_errors import QueueOverloaded
from gesso.service.http.errors import ApiError
from gesso.service.images.image_requests import ImageRequest
from gesso.service.runtime.app_state import ServiceState
from gesso.store.advisory_locks import transaction_lock
from gesso.store.blob_store import blob_key
from gesso.store.job_records import find_job_by_idempotency_key
from gesso.store.sql_job_queue import add_job, images_waiting, job_uploads_prefix
from gesso.store.tables import Job, Tenant

MAX_IDEMPOTENCY_KEY = 200


def request_fingerprint(fields: dict, uploads: dict[str, bytes]) -> str:
    """SHA-256 over the request's fields and uploaded bytes: the same retry has the same print."""
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode())
    for name in sorted(uploads):
        digest.update(name.encode() + hashlib.sha256(uploads[name]).digest())
    return digest.hexdigest()


def submit_job(
    state: ServiceState,
    principal: Principal,
    request: ImageRequest,
    *,
    job_id: str,
    fingerprint: str,
    idempotency_key: str | None,
    request_id: str,
    uploads: dict[str, bytes],
) -> Job:
    """Write the job (and its uploads) or return the job an earlier identical request made.

    Raises ApiError 409 when an Idempotency-Key is reused for a different request, QuotaExceeded
    or QueueFull (429) when the tenant or the server is at its limit, QueueOverloaded (429) when
    a synchronous request would wait too long. A retry with the Idempotency-Key of an accepted
    job always finds that job, whatever the load.
    """
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters", param="Idempotency-Key")
    try:
        return _insert(state, principal, request, _Submission(job_id, fingerprint, idempotency_key, request_id, uploads))
    except IntegrityError:
        # a concurrent request with the same key won the race: answer with its job
        if idempotency_key is None:
            raise
        with state.sessions() as session:
            existing = find_job_by_idempotency_key(session, principal.tenant_id, idempotency_key)
        if existing is None:
            raise
        return _same_request(existing, fingerprint)


@dataclass(frozen=True)
class _Submission:
    """What one HTTP request adds to its checked image request: ids, fingerprint and uploads."""

    job_id: str
    fingerprint: str
    idempotency_key: str | None
    request_id: str
    uploads: dict[str, bytes]


def _insert(state: ServiceState, principal: Principal, request: ImageRequest, submission: _Submission) -> Job:
    job_id, fingerprint, idempotency_key = submission.job_id, submission.fingerprint, submission.idempotency_key
    request_id, uploads = submission.request_id, submission.uploads
    prefix = job_uploads_prefix(principal.tenant_id, job_id)
    try:
        with state.sessions.begin() as session:
            # one submission per tenant at a time across replicas: the quota is counted and the
            # job inserted under this lock, and a concurrent duplicate of an idempotent request
            # waits here and then finds the first one's job
            transaction_lock(session, f"quota:{principal.tenant_id}")
            if idempotency_key is not None:
                existing = find_job_by_idempotency_key(session, principal.tenant_id, idempotency_key)
                if existing is not None:
                    return _same_request(existing, fingerprint)
            now = time.time()
            if not request.run_in_background:
                admit_by_expected_wait(state, session)
            tenant = session.get(Tenant, principal.tenant_id)
            check_image_quota(session, tenant, request.generation.n, state.settings.tenant_images_per_day, now)
            blob_keys = {}
            for name, data in uploads.items():
                blob_keys[name] = blob_key(principal.tenant_id, "uploads", job_id, f"{name}.png")
                state.blobs.put(blob_keys[name], data)
            generation = request.generation
            job = Job(
                id=job_id,
                tenant_id=principal.tenant_id,
                api_key_id=principal.key_id,
                kind=generation.kind,
                model=generation.model,
                batch_key=generation.batch_key(),
                spec_json=generation.to_json(),  # sealed by the store as it is written
                n=generation.n,
                response_format=request.response_format,
                input_image_blob=blob_keys.get("image"),
                input_mask_blob=blob_keys.get("mask"),
                idempotency_key=idempotency_key,
                request_sha256=fingerprint,
                request_id=request_id,
                safety_identifier=request.safety_identifier,
                attempts=0,
                created_at=now,
            )
            add_job(session, job, state.settings.max_queued_jobs)
        return job
    except BaseException:
        if uploads:
            state.blobs.delete_prefix(prefix)
        raise


def admit_by_expected_wait(state: ServiceState, session: Session) -> None:
    """QueueOverloaded (429) when the work queued ahead would keep a synchronous request waiting
    longer than `max_expected_wait_s`; background jobs are bounded by `max_queued_jobs` only."""
    bound = state.settings.max_expected_wait_s
    if bound <= 0:
        return
    expected = state.expected_wait.seconds_for(images_waiting(session))
    if expected > bound:
        raise QueueOverloaded(expected, bound, retry_after=max(1, min(300, math.ceil(expected - bound))))


def _same_request(existing: Job, fingerprint: str) -> Job:
    if existing.request_sha256 != fingerprint:
        raise ApiError(
            409,
            "this Idempotency-Key was already used for a different request",
            param="Idempotency-Key",
            code="idempotency_key_reused",
        )
    return existing
