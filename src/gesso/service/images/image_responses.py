"""Build OpenAI-shaped bodies from job and image rows: images responses, job objects, SSE events."""

from __future__ import annotations

import base64
import json
import time

from gesso.governance.signed_urls import sign_image_token
from gesso.jobs.generation_request import GenerationRequest
from gesso.service.runtime.app_state import ServiceState
from gesso.store.tables import ImageRecord, Job


def image_url(state: ServiceState, base_url: str, image_id: str) -> str:
    expires_at = int(time.time()) + state.settings.image_url_ttl_s
    token = sign_image_token(state.signing_key, image_id, expires_at)
    return f"{base_url}/v1/images/{image_id}/content?token={token}"


def images_body(
    state: ServiceState, job: Job, images: list[ImageRecord], base_url: str, quality: str | None = None
) -> dict:
    """The `ImagesResponse` of a finished job, in the response format it asked for."""
    generation = GenerationRequest.from_json(job.spec_json)
    data = []
    revised = {"revised_prompt": generation.revised_prompt} if generation.revised_prompt else {}
    for image in images:
        if job.response_format == "url":
            data.append({"url": image_url(state, base_url, image.id), **revised})
        else:
            data.append({"b64_json": base64.b64encode(state.blobs.get(image.blob_key)).decode(), **revised})
    body = {
        "created": int(job.created_at),
        "data": data,
        "background": generation.background,
        "output_format": generation.output_format,
        "size": f"{generation.size[0]}x{generation.size[1]}",
    }
    if quality is not None:
        body["quality"] = quality
    return body


def job_body(
    state: ServiceState, job: Job, images: list[ImageRecord], base_url: str, include_images: bool = True
) -> dict:
    """The Gesso job object; `result` carries the images once the job has succeeded."""
    generation = GenerationRequest.from_json(job.spec_json)
    error = {"code": job.error_code, "message": job.error_message} if job.status == "failed" else None
    result = images_body(state, job, images, base_url) if job.status == "succeeded" and include_images else None
    return {
        "id": job.id,
        "object": "image.job",
        "kind": job.kind,
        "status": job.status,
        "model": job.model,
        "n": job.n,
        "size": f"{generation.size[0]}x{generation.size[1]}",
        "created_at": int(job.created_at),
        "started_at": None if job.started_at is None else int(job.started_at),
        "completed_at": None if job.completed_at is None else int(job.completed_at),
        "attempts": job.attempts,
        "error": error,
        "result": result,
    }


def sse_event(event: str, payload: dict) -> str:
    """One server-sent event, as OpenAI streams them (`event:` name and a JSON `data:` line)."""
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n"


def stream_event_fields(generation: GenerationRequest, quality: str) -> dict:
    return {
        "created_at": int(time.time()),
        "size": f"{generation.size[0]}x{generation.size[1]}",
        "quality": quality if quality in ("low", "medium", "high", "auto") else "auto",
        "background": generation.background,
        "output_format": generation.output_format,
    }
