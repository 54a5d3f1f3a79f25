"""Stamp every image on its way into storage: upscale to the delivery size, watermark, encode in
the requested format, sign C2PA Content Credentials; record its origin and an audit record.

`StampingJobQueue` wraps the job queue the worker completes jobs through, so no image reaches the
blob store (or a client) without its stamp. Streamed partial previews are not stored and are not
stamped.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gesso.engine.jobs import ClaimedJob, FinishedImage, ImageJobSpec
from gesso.governance.audit_events import record_image_generated
from gesso.governance.audit_log import AuditLog
from gesso.governance.provenance import ImageOrigin, new_image_id, pixel_digest
from gesso.governance.provenance_c2pa import GenerationFacts, SigningIdentity, sign_image
from gesso.governance.provenance_watermark import embed_watermark, upscale_for_delivery
from gesso.governance.tenant_policy import tenant_settings
from gesso.store.tables import ImageOriginRow, ImageRecord, Job

log = logging.getLogger("gesso.provenance")
PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class DeliveredImage:
    data: bytes
    width: int
    height: int
    origin: ImageOrigin


def stamp_delivered_image(
    data: bytes, content_type: str, quality: int, *, model: str, tenant: str, identity: SigningIdentity
) -> DeliveredImage:
    """The bytes to store and deliver for one generated image (same format as `data`)."""
    image_id = new_image_id()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    marked = embed_watermark(upscale_for_delivery(Image.open(io.BytesIO(data)).convert("RGB")), image_id)
    buffer = io.BytesIO()
    pil_format = PIL_FORMATS[content_type]
    if pil_format == "PNG":
        marked.save(buffer, "PNG")
        delivered_pixels = marked
    else:
        marked.save(buffer, pil_format, quality=max(1, quality))
        delivered_pixels = Image.open(io.BytesIO(buffer.getvalue()))
    origin = ImageOrigin(f"{image_id:016x}", model, tenant, created, pixel_digest(delivered_pixels))
    facts = GenerationFacts(model=model, tenant=tenant, created=created, image_id=origin.image_id)
    signed = sign_image(buffer.getvalue(), content_type, facts, identity)
    return DeliveredImage(signed, marked.width, marked.height, origin)


def find_origin(session: Session, watermark_id: str) -> ImageOrigin | None:
    row = session.get(ImageOriginRow, watermark_id)
    if row is None:
        return None
    return ImageOrigin(row.watermark_id, row.model, row.tenant_id, row.created, row.pixel_sha256)


class StampingJobQueue:
    """The worker's job queue with provenance and audit added at `complete`."""

    def __init__(
        self,
        inner,  # noqa: ANN001 - any JobQueue
        sessions: sessionmaker[Session],
        identity: Callable[[], SigningIdentity],
        audit: AuditLog,
    ):
        self.inner = inner
        self.sessions = sessions
        self.identity = identity
        self.audit = audit

    def claim_batch(self, max_images: int) -> list[ClaimedJob]:
        return self.inner.claim_batch(max_images)

    def fail(self, job_id: str, code: str, message: str) -> None:
        self.inner.fail(job_id, code, message)

    def requeue_interrupted(self) -> int:
        return self.inner.requeue_interrupted()

    def renew(self, job_ids: list[str]) -> list[str]:
        return self.inner.renew(job_ids)

    def release(self, job_ids: list[str]) -> int:
        return self.inner.release(job_ids)

    def complete(self, job_id: str, images: list[FinishedImage]) -> bool:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None:
                return False
            tenant_id, api_key_id, spec = job.tenant_id, job.api_key_id, ImageJobSpec.from_json(job.spec_json)
            prompt_mode = tenant_settings(session, tenant_id).prompt_mode
        identity = self.identity()
        delivered = [
            stamp_delivered_image(
                image.data, image.content_type, spec.output_compression,
                model=spec.model, tenant=tenant_id, identity=identity,
            )
            for image in images
        ]
        stamped = [
            replace(image, data=d.data, width=d.width, height=d.height) for image, d in zip(images, delivered)
        ]
        if not self.inner.complete(job_id, stamped):
            return False
        try:
            self._record(job_id, tenant_id, api_key_id, spec, prompt_mode, images, delivered)
        except Exception:  # noqa: BLE001 - the images are stored; a lost record must not fail the job
            log.exception("could not record the origin of job %s", job_id)
        return True

    def _record(
        self,
        job_id: str,
        tenant_id: str,
        api_key_id: str,
        spec: ImageJobSpec,
        prompt_mode: str,
        images: list[FinishedImage],
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
            kind=spec.kind, model=spec.model, prompt=spec.prompt, negative_prompt=spec.negative,
            prompt_mode=prompt_mode, image_ids=image_ids,
        )
