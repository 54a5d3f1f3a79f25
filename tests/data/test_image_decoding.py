"""`decode_image`: limits read from the header before any pixel is decoded, one typed error for
everything Pillow can throw on hostile bytes, frame 0 only."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageFile

from gesso.data.image_decoding import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageRejected, decode_image
from tests.hostile_images import huge_png, many_frame_gif, plain_png, random_bytes, truncated_png

LIMITS = (DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS)


def _garbled_pixels() -> bytes:
    data = bytearray(plain_png())
    start = data.index(b"IDAT") + 4
    data[start : start + 16] = b"\xff" * 16
    return bytes(data)


def test_tiny_file_declaring_huge_size_is_refused_from_its_header(monkeypatch):
    def never(self):  # noqa: ANN001, ANN202
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    bomb = huge_png(4200, 4200)  # under Pillow's own ceiling, over ours
    assert len(bomb) < 64 * 1024
    with pytest.raises(ImageRejected, match="4200x4200, over the 16777216 pixel limit") as caught:
        decode_image(bomb, *LIMITS)
    assert caught.value.over_limit


def test_decompression_bomb_beyond_pillows_ceiling_is_an_image_rejected():
    with pytest.raises(ImageRejected, match="pixel limit") as caught:
        decode_image(huge_png(14000, 14000), *LIMITS)
    assert caught.value.over_limit and isinstance(caught.value, ValueError)


def test_pillows_global_pixel_ceiling_is_left_alone():
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageRejected):
        decode_image(huge_png(14000, 14000), *LIMITS)
    decode_image(plain_png(), *LIMITS)
    assert Image.MAX_IMAGE_PIXELS == before


def test_byte_limit_is_checked_before_opening():
    with pytest.raises(ImageRejected, match="byte limit") as caught:
        decode_image(plain_png(), max_bytes=10, max_pixels=DEFAULT_MAX_PIXELS)
    assert caught.value.over_limit


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (random_bytes(), "not a readable image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not a readable image"),  # signature, no header
        (truncated_png(), "corrupt or truncated"),
        (_garbled_pixels(), "corrupt or truncated"),  # header intact, pixel data not zlib
    ],
)
def test_malformed_bytes_raise_one_typed_error(data, reason):
    with pytest.raises(ImageRejected, match=reason) as caught:
        decode_image(data, *LIMITS)
    assert not caught.value.over_limit


def test_corrupt_tiff_directory_is_an_image_rejected():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    data[4:8] = struct.pack("<I", len(data) + 10_000)  # first IFD offset past the end
    with pytest.raises(ImageRejected):
        decode_image(bytes(data), *LIMITS)


def test_postscript_is_never_handed_to_ghostscript():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n%%EOF\n"
    assert Image.open(io.BytesIO(eps)).format == "EPS"  # what Pillow would pick, unrestricted
    with pytest.raises(ImageRejected, match="not a readable image"):
        decode_image(eps, *LIMITS)


def test_format_outside_the_callers_list_is_refused_by_name():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="BMP")
    with pytest.raises(ImageRejected, match="unsupported image format BMP"):
        decode_image(buffer.getvalue(), *LIMITS, formats={"PNG"})


def test_smaller_than_min_side_is_refused():
    with pytest.raises(ImageRejected, match="smaller than 16 px"):
        decode_image(plain_png((8, 8)), *LIMITS, min_side=16)


def test_gif_of_many_frames_decodes_frame_zero_only():
    image = decode_image(many_frame_gif(500), *LIMITS)
    assert image.tell() == 0 and image.size == (32, 32)
    assert image.convert("RGB").getpixel((0, 0)) == (255, 0, 0)


def test_good_image_comes_back_loaded():
    image = decode_image(plain_png((64, 48), "teal"), *LIMITS)
    assert image.format == "PNG" and image.size == (64, 48)
    assert image.convert("RGB").getpixel((3, 3)) == (0, 128, 128)
