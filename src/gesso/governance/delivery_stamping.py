"""Stamp every image on its way into storage: upscale the model's pixels to the delivery size,
watermark, encode once in the requested format, sign C2PA Content Credentials; record its
origin and an audit record.

`StampingJobQueue` wraps the job queue the worker completes jobs through, so no image reaches the
blob store (or a client) without its stamp. Streamed partial previews are not stored and are not
stamped.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gesso.governance.audit_events import record_image_generated
from gesso.governance.audit_log import AuditLog
from gesso.governance.provenance import ImageOrigin, new_image_id, pixel_digest
from gesso.governance.provenance_c2pa import GenerationFacts, SigningIdentity, sign_image
from gesso.governance.provenance_watermark import embed_watermark, upscale_for_delivery
from gesso.governance.tenant_policy import tenant_settings
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.image_jobs import ClaimedJob, EncodedImage, FinishedJob
from gesso.jobs.output_encoding import OUTPUT_FORMATS, encode_output
from gesso.store.sql_job_queue import SqlJobQueue
from gesso.store.tables import ImageOriginRow, ImageRecord, Job

log = logging.getLogger("gesso.provenance")


@dataclass(frozen=True)
class DeliveredImage:
    data: bytes  # watermarked, encoded once, C2PA-signed
    content_type: str
    width: int
    height: int
    origin: ImageOrigin


def stamp_delivered_image(
    pixels: Image.Image,
    output_format: str,
    compression: int,
    *,
    model: str,
    tenant: str,
    identity: SigningIdentity,
    image_id: int | None = None,
    created: str | None = None,
) -> DeliveredImage:
    """The bytes to store and deliver for one generated image: `pixels` (RGB, or RGBA for a
    transparent background, whose alpha is kept) upscaled, watermarked
    with `image_id` (random by default), encoded a single time as `output_format` (png, jpeg,
    webp; `compression` is the lossy formats' quality) and signed; with the origin to record.

    The origin's pixel digest is of the pixels a client decodes from those bytes.
    """
    image_id = new_image_id() if image_id is None else image_id
    created = created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    content_type = OUTPUT_FORMATS[output_format]
    marked = embed_watermark(upscale_for_delivery(pixels.convert("RGBA" if pixels.mode == "RGBA" else "RGB")), image_id)
    encoded = encode_output(marked, output_format, compression)
    delivered_pixels = marked if output_format == "png" else Image.open(io.BytesIO(encoded))
    origin = ImageOrigin(f"{image_id:016x}", model, tenant, created, pixel_digest(delivered_pixels))
    facts = GenerationFacts(model=model, tenant=tenant, created=created, image_id=origin.image_id)
    signed = sign_image(encoded, content_type, facts, identity)
    return DeliveredImage(signed, content_type, marked.width, marked.height, origin)


def find_origin(session: Session, watermark_id: str) -> ImageOrigin | None:
    row = session.get(ImageOriginRow, watermark_id)
    if row is None:
        return None
    return ImageOrigin(row.watermark_id, row.model, row.tenant_id, row.created, row.pixel_sha256)


class StampingJobQueue:
    """The worker's job queue with provenance and audit added at `complete`."""

    def __init__(
        self,
        inner: SqlJobQueue,
        sessions: sessionmaker[Session],
        identity: Callable[[], SigningIdentity],
        audit: AuditLog,
    ):
        self.inner = inner
        self.sessions = sessions
        self.identity = identity
        self.audit = audit

    def claim_batch(self, max_images: int, batch_key: str | None = None) -> list[ClaimedJob]:
        return self.inner.claim_batch(max_images, batch_key)

    def fail(self, job_id: str, code: str, message: str) -> None:
        self.inner.fail(job_id, code, message)

    def requeue_interrupted(self) -> int:
        return self.inner.requeue_interrupted()

    def renew(self, job_ids: list[str]) -> list[str]:
        return self.inner.renew(job_ids)

    def release(self, job_ids: list[str]) -> int:
        return self.inner.release(job_ids)

    def complete(self, finished: FinishedJob) -> bool:
        """Stamp and encode each image once, store them through the inner queue, then record
        their origins and the audit record (the request is the one the worker ran: the job row
        is read only for its tenant and key)."""
        job_id, request = finished.job.id, finished.job.request
        with self.sessions() as session:
            owner = session.execute(select(Job.tenant_id, Job.api_key_id).where(Job.id == job_id)).first()
            if owner is None:
                return False
            tenant_id, api_key_id = owner
            prompt_mode = tenant_settings(session, tenant_id).prompt_mode
        identity = self.identity()
        delivered = [
            stamp_delivered_image(
                image.pixels, request.output_format, request.output_compression,
                model=request.model, tenant=tenant_id, identity=identity,
            )
            for image in finished.images
        ]
        stamped = [
            EncodedImage(image.index, image.seed, d.data, d.content_type, d.width, d.height)
            for image, d in zip(finished.images, delivered)
        ]
        if not self.inner.store_images(job_id, stamped):
            return False
        try:
            self._record(job_id, tenant_id, api_key_id, request, prompt_mode, stamped, delivered)
        except Exception:  # noqa: BLE001 - the images are stored; a lost record must not fail the job
            log.exception("could not record the origin of job %s", job_id)
        return True

    def _record(
        self,
        job_id: str,
        tenant_id: str,
        api_key_id: str,
        request: GenerationRequest,
        prompt_mode: str,
        images: list[EncodedImage],
        delivered: list[DeliveredImage],
    ) -> None:
        with self.sessions.begin() as session:
            for image, d in zip(images, delivered):
                session.add(
                    ImageOriginRow(
                        watermark_id=d.origin.image_id, tenant_id=tenant_id, job_id=job_id, index=image.index,
                        model=d.origin.model, created=d.origin.created, pixel_sha256=d.origin.pixel_sha256,
                    )
                )
            image_ids = list(session.scalars(select(ImageRecord.id).where(ImageRecord.job_id == job_id).order_by(ImageRecord.index)))
        record_image_generated(
            self.audit, tenant_id, f"key:{api_key_id}", job_id,
            kind=request.kind, model=request.model, prompt=request.prompt, negative_prompt=request.negative,
            prompt_mode=prompt_mode, image_ids=image_ids, revised_prompt=request.revised_prompt,
        )
