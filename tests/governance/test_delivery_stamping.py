"""Delivery stamping encodes each image once: the bytes a client receives decode to the
watermarked pixels compressed a single time, in the format the request asked for."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gesso.governance.delivery_stamping import stamp_delivered_image
from gesso.governance.provenance import pixel_digest, verify_image
from gesso.governance.provenance_c2pa import ensure_identity
from gesso.governance.provenance_watermark import embed_watermark, upscale_for_delivery
from gesso.jobs.output_encoding import encode_output
from tests.governance.emoji_images import emoji_image

IMAGE_ID = 0x0123456789ABCDEF


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return ensure_identity(tmp_path_factory.mktemp("keys"))


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize(("output_format", "quality"), [("jpeg", 85), ("webp", 80), ("png", 100)])
def test_delivered_pixels_are_the_stamped_pixels_encoded_once(identity, output_format, quality):
    pixels = emoji_image(2).convert("RGB")
    delivered = stamp_delivered_image(
        pixels, output_format, quality, model="m", tenant="t", identity=identity, image_id=IMAGE_ID
    )
    marked = embed_watermark(upscale_for_delivery(pixels), IMAGE_ID)
    once = decoded(encode_output(marked, output_format, quality))
    assert np.array_equal(decoded(delivered.data), once)
    assert delivered.origin.pixel_sha256 == pixel_digest(Image.fromarray(once))
    assert Image.open(io.BytesIO(delivered.data)).format == output_format.upper()
    if output_format != "png":
        # what the engine's encode followed by a decode and re-encode at stamping would deliver
        engine_bytes = encode_output(pixels, output_format, quality)
        twice = embed_watermark(upscale_for_delivery(Image.open(io.BytesIO(engine_bytes)).convert("RGB")), IMAGE_ID)
        assert not np.array_equal(decoded(encode_output(twice, output_format, quality)), once)


def test_a_stamped_jpeg_keeps_intact_credentials_and_its_watermark(identity):
    delivered = stamp_delivered_image(
        emoji_image(1), "jpeg", 90, model="gesso-base", tenant="acme", identity=identity, image_id=IMAGE_ID
    )
    report = verify_image(delivered.data, identity.trust_anchors_pem)
    assert report.made_by_gesso and report.credentials == "intact"
    assert report.image_id == f"{IMAGE_ID:016x}" == delivered.origin.image_id
    assert (delivered.content_type, delivered.width, delivered.height) == ("image/jpeg", 256, 256)
