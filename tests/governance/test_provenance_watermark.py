"""Try to lose the watermark: JPEG re-encoding, stripped metadata, white backgrounds, wrong key."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gesso.governance.provenance_watermark import (
    CODED_BITS,
    MIN_SIZE,
    delivery_size,
    embed_watermark,
    payload_bits,
    read_watermark,
    upscale_for_delivery,
)
from tests.governance.emoji_images import emoji_image

IMAGES = 12


def jpeg(image: Image.Image, quality: int = 85) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer)


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a.convert("RGB"), float), np.asarray(b.convert("RGB"), float)
    return float(10 * np.log10(255**2 / np.mean((x - y) ** 2)))


@pytest.fixture(scope="module")
def marked() -> list[tuple[int, Image.Image, Image.Image]]:
    rng = np.random.default_rng(5)
    out = []
    for index in range(IMAGES):
        delivered = upscale_for_delivery(emoji_image(index))
        image_id = int(rng.integers(0, 2**63)) * 2 + index % 2
        out.append((image_id, delivered, embed_watermark(delivered, image_id)))
    return out


def bit_errors(image_id: int, image: Image.Image) -> int:
    return int(np.sum(np.array(read_watermark(image).bits) != payload_bits(image_id)))


def test_delivery_size_gives_the_mark_room():
    assert delivery_size(64) == 256 and delivery_size(32) == 256 and delivery_size(100) == 300
    assert delivery_size(512) == 512
    assert upscale_for_delivery(emoji_image(0)).size == (256, 256)


def test_reads_back_exactly_on_white_background_emoji(marked):
    for image_id, _, image in marked:
        reading = read_watermark(image)
        assert reading.found and reading.image_id == image_id
        assert bit_errors(image_id, image) == 0


def test_survives_jpeg_quality_85(marked):
    errors = sum(bit_errors(image_id, jpeg(image, 85)) for image_id, _, image in marked)
    assert errors / (CODED_BITS * IMAGES) == 0.0  # measured bit-error rate after re-encoding
    for image_id, _, image in marked:
        reading = read_watermark(jpeg(image, 85))
        assert reading.found and reading.image_id == image_id and reading.confidence > 0.5


def test_survives_losing_all_metadata(marked):
    image_id, _, image = marked[0]
    stripped = Image.fromarray(np.asarray(image))  # pixels only: no chunks, no manifest
    assert read_watermark(stripped).image_id == image_id


def test_is_invisible_enough(marked):
    for _, delivered, image in marked:
        assert psnr(delivered, image) > 38.0
        # The white background stays near-white (a uniform 2-level headroom, no visible pattern).
        corner = np.asarray(image)[:24, :24].astype(int)
        assert corner.min() >= 245


def test_unmarked_and_wrong_key_images_are_not_claimed(marked):
    for _, delivered, image in marked:
        assert not read_watermark(delivered).found
        assert read_watermark(delivered).confidence < 0.3
        assert not read_watermark(image, key=b"another deployment").found


def test_too_small_images_are_refused_and_not_read():
    with pytest.raises(ValueError):
        embed_watermark(emoji_image(0), 1)
    assert not read_watermark(emoji_image(0)).found
    with pytest.raises(ValueError):
        payload_bits(2**64)


def test_rgba_keeps_its_alpha(marked):
    image_id, delivered, _ = marked[1]
    rgba = delivered.convert("RGBA")
    rgba.putalpha(200)
    out = embed_watermark(rgba, image_id)
    assert out.mode == "RGBA" and np.asarray(out)[..., 3].min() == 200
    assert read_watermark(out).image_id == image_id


def on_transparent(image: Image.Image) -> Image.Image:
    """An emoji on white as a transparent-background model delivers it: alpha 0 (and colour 0,
    as `to_straight_uint8` writes it) wherever the background was."""
    rgb = np.asarray(image.convert("RGB"))
    background = (rgb > 245).all(axis=-1)
    rgba = np.dstack([np.where(background[..., None], 0, rgb), np.where(background, 0, 255)]).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


@pytest.mark.parametrize("index", range(4))
def test_a_transparent_background_image_keeps_its_mark_and_its_clean_alpha(index):
    delivered = on_transparent(upscale_for_delivery(emoji_image(index)))
    alpha = np.asarray(delivered)[..., 3]
    assert alpha[0, 0] == 0 and (alpha == 0).mean() > 0.2  # a real transparent background
    image_id = 0x1234_5678_9ABC_DEF0 + index
    buffer = io.BytesIO()
    embed_watermark(delivered, image_id).save(buffer, "PNG")
    reread = Image.open(io.BytesIO(buffer.getvalue()))
    assert reread.mode == "RGBA" and np.array_equal(np.asarray(reread)[..., 3], alpha)
    assert read_watermark(reread).image_id == image_id


def test_minimum_size_is_what_gesso_delivers():
    assert MIN_SIZE == 256


def test_marked_coefficients_are_those_of_a_full_block_dct():
    from scipy.fft import dctn, idctn

    from gesso.governance.provenance_watermark import BLOCK, POSITIONS, _coefficients, _luma_change

    luma = np.random.default_rng(3).uniform(0, 255, (48, 40)).astype(np.float32)
    blocks = (luma.reshape(6, BLOCK, 5, BLOCK).transpose(0, 2, 1, 3) - 128.0).astype(np.float64)
    rows, cols = zip(*POSITIONS)
    reference = dctn(blocks, axes=(2, 3), norm="ortho")[:, :, rows, cols].reshape(-1, len(POSITIONS))
    np.testing.assert_allclose(_coefficients(luma), reference, atol=1e-3)

    delta = np.random.default_rng(4).normal(size=(30, len(POSITIONS)))
    spectra = np.zeros((6, 5, BLOCK, BLOCK))
    spectra[:, :, rows, cols] = delta.reshape(6, 5, len(POSITIONS))
    expected = idctn(spectra, axes=(2, 3), norm="ortho").transpose(0, 2, 1, 3).reshape(48, 40)
    np.testing.assert_allclose(_luma_change((48, 40), delta), expected, atol=1e-5)
