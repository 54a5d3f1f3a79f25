"""Provenance of Gesso's images: what is recorded of each delivered image, and where an image
came from.

Stamping (`delivery_stamping.stamp_delivered_image`) upscales the model's output to its delivery
size, embeds the invisible watermark (a 64-bit identifier), encodes it once and signs C2PA
Content Credentials over the result. The caller stores an `ImageOrigin` (identifier, model,
tenant, time, pixel digest) so that an image whose credentials were stripped can still be traced
by its watermark.

Verifying combines the two: intact credentials answer everything; without them, the watermark
names the image and the stored origin says whether its pixels are the ones Gesso delivered
(credentials stripped) or were re-encoded.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Callable, Literal

from PIL import Image

from gesso.data.image_decoding import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_image
from gesso.governance.provenance_c2pa import read_credentials
from gesso.governance.provenance_watermark import DEFAULT_KEY, read_watermark

CredentialsVerdict = Literal["intact", "tampered", "stripped", "re-encoded", "foreign"]
LOSSLESS_FORMATS = {"PNG", "BMP", "TIFF"}
MIME_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}


@dataclass(frozen=True)
class ImageOrigin:
    """What Gesso records about an image it delivered (the images table holds these)."""

    image_id: str  # watermark identifier, 16 hex digits
    model: str
    tenant: str
    created: str
    pixel_sha256: str


@dataclass(frozen=True)
class ProvenanceReport:
    made_by_gesso: bool
    credentials: CredentialsVerdict
    model: str | None
    tenant: str | None
    created: str | None
    image_id: str | None
    watermark_found: bool
    watermark_confidence: float
    signer: str | None  # the certificate's organisation when credentials are present
    detail: str
    origin_withheld: bool = False  # tenant and model left out: the image is another tenant's


def new_image_id() -> int:
    """A random 64-bit identifier for the watermark."""
    return secrets.randbits(64)


def pixel_digest(image: Image.Image) -> str:
    """sha256 of the decoded pixels (RGB, or RGBA where the image has alpha) and size: equal for
    any lossless copy, whatever metadata."""
    pixels = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return hashlib.sha256(f"{pixels.width}x{pixels.height}|".encode() + pixels.tobytes()).hexdigest()


def report_for_tenant(report: ProvenanceReport, tenant_id: str) -> ProvenanceReport:
    """The report as a caller of `tenant_id` may see it: that this deployment made the image,
    when, and whether its credentials are intact, for anyone; which tenant and which model only
    for the tenant the image was made for."""
    if report.tenant is not None and report.tenant == tenant_id:
        return report
    if report.tenant is None and report.model is None:
        return report
    return replace(report, tenant=None, model=None, origin_withheld=True)


def verify_image(
    data: bytes,
    trust_anchors_pem: str,
    lookup: Callable[[str], ImageOrigin | None] | None = None,
    key: bytes = DEFAULT_KEY,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ProvenanceReport:
    """Whether Gesso made the image, which model, when, and whether its credentials are intact.

    `lookup` maps a watermark identifier to the stored origin (None where the deployment keeps no
    record, e.g. after retention deleted it). The bytes are decoded by `decode_image` within
    `max_bytes` and `max_pixels`; raises ImageRejected (a ValueError) when it refuses them.
    """
    image = decode_image(data, max_bytes, max_pixels)
    image_format = image.format or ""
    credentials = read_credentials(
        data, MIME_TYPES.get(image_format, "image/png"), trust_anchors_pem
    )
    mark = read_watermark(image, key)
    origin = (
        lookup(mark.image_id_hex)
        if mark.found and lookup is not None and mark.image_id_hex
        else None
    )

    def report(
        made: bool, verdict: CredentialsVerdict, facts: dict | ImageOrigin | None, detail: str
    ) -> ProvenanceReport:
        if isinstance(facts, ImageOrigin):
            facts = {
                "model": facts.model,
                "tenant": facts.tenant,
                "created": facts.created,
                "image_id": facts.image_id,
            }
        facts = facts or {}
        return ProvenanceReport(
            made_by_gesso=made,
            credentials=verdict,
            model=facts.get("model"),
            tenant=facts.get("tenant"),
            created=facts.get("created"),
            image_id=facts.get("image_id") or mark.image_id_hex,
            watermark_found=mark.found,
            watermark_confidence=round(mark.confidence, 3),
            signer=credentials.issuer,
            detail=detail,
        )

    if credentials.state == "trusted":
        return report(
            True,
            "intact",
            credentials.facts,
            "Content Credentials intact, signed by this deployment",
        )
    if not mark.found:
        if credentials.state == "invalid":
            return report(
                False, "tampered", None, "credentials present but broken, and no Gesso watermark"
            )
        who = (
            f"signed by {credentials.issuer}"
            if credentials.state == "untrusted"
            else "no credentials"
        )
        return report(False, "foreign", None, f"no Gesso watermark; {who}")
    if credentials.state == "invalid":
        return report(
            True,
            "tampered",
            origin,
            "Gesso watermark found; the credentials no longer match the image",
        )
    other = f"; re-signed by {credentials.issuer}" if credentials.state == "untrusted" else ""
    if origin is not None:
        if pixel_digest(image) == origin.pixel_sha256:
            return report(
                True, "stripped", origin, "pixels as delivered, Content Credentials removed" + other
            )
        return report(
            True,
            "re-encoded",
            origin,
            "Gesso watermark found, pixels changed since delivery" + other,
        )
    verdict: CredentialsVerdict = "stripped" if image_format in LOSSLESS_FORMATS else "re-encoded"
    return report(
        True,
        verdict,
        None,
        f"Gesso watermark found, no stored record of {mark.image_id_hex}" + other,
    )
