"""Try to fool provenance verification: untouched, re-encoded, stripped, tampered, foreign."""

from __future__ import annotations

import io
import os
import stat
import struct

import numpy as np
import pytest
from PIL import Image

from gesso.governance.delivery_stamping import stamp_delivered_image
from gesso.governance.provenance import ImageOrigin, verify_image
from gesso.governance.provenance_c2pa import (
    CA_KEY_FILE,
    SIGNER_CHAIN_FILE,
    SIGNER_KEY_FILE,
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationFacts,
    create_local_identity,
    ensure_identity,
    read_credentials,
    sign_image,
)
from tests.governance.emoji_images import emoji_image


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return ensure_identity(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def stamped(identity):
    return stamp_delivered_image(
        emoji_image(0),
        "png",
        100,
        model="gesso-base",
        tenant="acme",
        identity=identity,
        created="2026-11-25T10:00:00+00:00",
    )


@pytest.fixture()
def lookup(stamped):
    records = {stamped.origin.image_id: stamped.origin}
    return records.get


def reencode(data: bytes, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_identity_is_created_once_with_private_keys(tmp_path):
    identity = ensure_identity(tmp_path)
    for name in (CA_KEY_FILE, SIGNER_KEY_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    assert ensure_identity(tmp_path) == identity  # second start reuses it


def test_replicas_starting_together_on_one_keys_folder_share_one_identity(tmp_path):
    import threading

    barrier, made = threading.Barrier(4), []

    def start() -> None:
        barrier.wait()
        made.append(ensure_identity(tmp_path / "shared"))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 4 and all(identity == made[0] for identity in made)
    assert ensure_identity(tmp_path / "shared") == made[0]


def test_organisation_supplied_identity_is_used_as_is(tmp_path):
    theirs = create_local_identity(tmp_path / "org-pki", "Example Bank")
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in (SIGNER_CHAIN_FILE, SIGNER_KEY_FILE, "c2pa-trust-anchors.pem"):
        (keys / name).write_bytes((tmp_path / "org-pki" / name).read_bytes())
    assert ensure_identity(keys) == theirs
    assert not (keys / CA_KEY_FILE).exists()


def test_untouched_image_has_intact_credentials(stamped, identity):
    report = verify_image(stamped.data, identity.trust_anchors_pem)
    assert report.made_by_gesso and report.credentials == "intact"
    assert (report.model, report.tenant, report.created) == (
        "gesso-base",
        "acme",
        "2026-11-25T10:00:00+00:00",
    )
    assert report.image_id == stamped.origin.image_id and report.watermark_found
    assert Image.open(io.BytesIO(stamped.data)).size == (256, 256)
    credentials = read_credentials(stamped.data, "image/png", identity.trust_anchors_pem)
    assert credentials.digital_source_type == TRAINED_ALGORITHMIC_MEDIA


def test_jpeg_q85_reencoded_image_is_traced_by_its_watermark(stamped, identity, lookup):
    report = verify_image(
        reencode(stamped.data, "JPEG", quality=85), identity.trust_anchors_pem, lookup
    )
    assert report.made_by_gesso and report.credentials == "re-encoded"
    assert (report.model, report.tenant, report.created) == (
        "gesso-base",
        "acme",
        "2026-11-25T10:00:00+00:00",
    )
    assert report.image_id == stamped.origin.image_id


def test_stripped_image_is_traced_and_recognised_as_unchanged(stamped, identity, lookup):
    stripped = reencode(stamped.data, "PNG")  # same pixels, manifest gone
    assert read_credentials(stripped, "image/png", identity.trust_anchors_pem).state == "absent"
    report = verify_image(stripped, identity.trust_anchors_pem, lookup)
    assert (
        report.made_by_gesso and report.credentials == "stripped" and report.model == "gesso-base"
    )
    # Without the stored record the watermark still says it is Gesso's and which image it is.
    bare = verify_image(stripped, identity.trust_anchors_pem)
    assert bare.made_by_gesso and bare.image_id == stamped.origin.image_id and bare.model is None


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk bytes) of a PNG, in order."""
    chunks, offset = [], 8
    while offset < len(data):
        length = struct.unpack(">I", data[offset : offset + 4])[0]
        chunks.append((data[offset + 4 : offset + 8], data[offset : offset + 12 + length]))
        offset += 12 + length
    return chunks


def test_edited_pixels_under_kept_manifest_are_tampered(stamped, identity, lookup):
    # Paint over part of the image, then put the original manifest chunk back in.
    image = Image.open(io.BytesIO(stamped.data)).convert("RGB")
    image.paste((255, 0, 0), (100, 100, 140, 140))
    edited = io.BytesIO()
    image.save(edited, "PNG")
    manifest = [chunk for kind, chunk in png_chunks(stamped.data) if kind == b"caBX"]
    assert manifest, "the signed PNG carries its manifest in a caBX chunk"
    chunks = png_chunks(edited.getvalue())
    rebuilt = (
        edited.getvalue()[:8]
        + chunks[0][1]
        + manifest[0]
        + b"".join(chunk for _, chunk in chunks[1:])
    )
    assert read_credentials(rebuilt, "image/png", identity.trust_anchors_pem).state == "invalid"
    report = verify_image(rebuilt, identity.trust_anchors_pem, lookup)
    assert report.credentials == "tampered" and report.made_by_gesso  # the watermark still names it
    assert report.image_id == stamped.origin.image_id


def test_foreign_images_are_not_claimed(identity, tmp_path):
    plain = io.BytesIO()
    emoji_image(3).resize((256, 256)).save(plain, "PNG")
    report = verify_image(plain.getvalue(), identity.trust_anchors_pem)
    assert not report.made_by_gesso and report.credentials == "foreign" and report.model is None

    # Signed by another party that even claims Gesso's assertion: still foreign.
    other = create_local_identity(tmp_path / "other", "Someone Else")
    facts = GenerationFacts("gesso-base", "acme", "2026-11-25T10:00:00+00:00", "00000000000000aa")
    forged = sign_image(plain.getvalue(), "image/png", facts, other)
    report = verify_image(forged, identity.trust_anchors_pem)
    assert not report.made_by_gesso and report.credentials == "foreign"
    assert report.signer == "Someone Else"


def test_stamped_image_from_the_pipeline(tiny_pipeline, identity):
    image = tiny_pipeline("red circle", num_inference_steps=2, seed=1)[0]
    stamped = stamp_delivered_image(image, "png", 100, model="tiny", tenant="t1", identity=identity)
    report = verify_image(reencode(stamped.data, "JPEG", quality=85), identity.trust_anchors_pem)
    assert report.made_by_gesso and report.image_id == stamped.origin.image_id


def test_not_an_image_is_a_value_error(identity):
    with pytest.raises(ValueError):
        verify_image(b"%PDF-1.7 not an image", identity.trust_anchors_pem)


def test_pixel_digest_ignores_metadata(stamped):
    from gesso.governance.provenance import pixel_digest

    again = Image.open(io.BytesIO(reencode(stamped.data, "PNG")))
    assert pixel_digest(again) == stamped.origin.pixel_sha256
    assert isinstance(stamped.origin, ImageOrigin)
    assert np.asarray(again).shape == (256, 256, 3)


@pytest.mark.parametrize("side", [4200, 14000])  # under and over Pillow's own bomb ceiling
def test_verify_refuses_tiny_files_of_huge_dimensions_from_the_header(identity, side):
    from gesso.data.image_decoding import ImageRejected
    from tests.hostile_images import huge_png

    with pytest.raises(ImageRejected, match="pixel limit") as caught:
        verify_image(huge_png(side, side), identity.trust_anchors_pem, max_pixels=4096 * 4096)
    assert caught.value.over_limit


def test_verify_refuses_truncated_and_random_bytes_with_one_error(identity):
    from gesso.data.image_decoding import ImageRejected
    from tests.hostile_images import random_bytes, truncated_png

    for data in (truncated_png(), random_bytes()):
        with pytest.raises(ImageRejected):
            verify_image(data, identity.trust_anchors_pem)


def test_verify_reads_frame_zero_of_a_many_frame_gif(identity):
    from tests.hostile_images import many_frame_gif

    report = verify_image(many_frame_gif(500, (256, 256)), identity.trust_anchors_pem)
    assert not report.made_by_gesso and report.credentials == "foreign"


def test_report_names_tenant_and_model_only_to_the_same_tenant(identity, stamped):
    from gesso.governance.provenance import report_for_tenant

    report = verify_image(stamped.data, identity.trust_anchors_pem)
    own = report_for_tenant(report, "acme")
    assert own == report and own.tenant == "acme" and own.model == "gesso-base" and not own.origin_withheld
    other = report_for_tenant(report, "globex")
    assert other.made_by_gesso and other.credentials == "intact" and other.created == report.created
    assert other.tenant is None and other.model is None and other.origin_withheld
    assert "acme" not in repr(other) and "gesso-base" not in repr(other)


def test_report_of_a_foreign_image_is_the_same_for_everyone(identity):
    from gesso.governance.provenance import report_for_tenant

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), "teal").save(buffer, "PNG")
    report = verify_image(buffer.getvalue(), identity.trust_anchors_pem)
    assert report_for_tenant(report, "globex") == report and not report.origin_withheld
