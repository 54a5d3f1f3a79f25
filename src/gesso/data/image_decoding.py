"""The one decoder for image bytes that came from outside: limits first, pixels second.

`Image.open` reads only the header, so the file's byte size, format and declared dimensions are
checked before `load()` decodes a single pixel: a few kilobytes of PNG that declare 14000x14000
are refused at the header instead of costing hundreds of MiB. Only frame 0 is ever decoded (a
GIF of ten thousand frames costs one frame). Whatever goes wrong inside Pillow, on truncated,
malformed or hostile data, comes out as one `ImageRejected` with a reason a client can read.

Pillow's global `Image.MAX_IMAGE_PIXELS` is left as it is: an image over twice that ceiling is
refused by Pillow at the header, and reported here as over the pixel limit like any other.
"""

from __future__ import annotations

import io
from collections.abc import Collection

from PIL import Image

# Plugins Pillow may try on outside bytes. Leaving the rest out keeps the exotic decoders (EPS,
# which runs Ghostscript; PSD, ICO, PCX, ...) away from untrusted data.
OPENED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# What those plugins report: the JPEG plugin names a camera's multi-picture JPEG "MPO".
DECODABLE_FORMATS: tuple[str, ...] = (*OPENED_FORMATS, "MPO")

# The shipped settings' `max_body_bytes` and `max_upload_pixels`, for callers that have no settings.
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 4096 * 4096


class ImageRejected(ValueError):
    """Image bytes refused by `decode_image`; the message is the reason, fit to show a client.

    `over_limit` is true when the image is readable but too large (bytes or pixels).
    """

    def __init__(self, reason: str, *, over_limit: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.over_limit = over_limit


def decode_image(
    data: bytes,
    max_bytes: int,
    max_pixels: int,
    *,
    formats: Collection[str] = DECODABLE_FORMATS,
    min_side: int = 1,
) -> Image.Image:
    """Decode untrusted image bytes within limits; returns the loaded image (frame 0).

    Refuses, with `ImageRejected`: empty data, more than `max_bytes`, a format outside `formats`,
    declared dimensions over `max_pixels` or with a side under `min_side` (all read from the
    header, before decoding), and data Pillow cannot decode (truncated, malformed).
    """
    if not data:
        raise ImageRejected("empty file")
    if len(data) > max_bytes:
        raise ImageRejected(f"file is {len(data)} bytes, over the {max_bytes} byte limit", over_limit=True)
    try:
        image = Image.open(io.BytesIO(data), formats=OPENED_FORMATS)
    except Image.DecompressionBombError:
        raise ImageRejected(f"image is over the {max_pixels} pixel limit (decompression bomb)",
                            over_limit=True) from None
    except Exception:  # Pillow's parsers raise many types on hostile headers; all mean the same
        raise ImageRejected("not a readable image") from None
    _check_header(image, max_pixels, formats, min_side)
    try:
        image.load()  # frame 0 only; later frames are never sought
    except Image.DecompressionBombError:
        raise ImageRejected(f"image is over the {max_pixels} pixel limit (decompression bomb)",
                            over_limit=True) from None
    except Exception:
        raise ImageRejected("corrupt or truncated image data") from None
    _check_header(image, max_pixels, formats, min_side)  # what is handed back is what was checked
    return image


def _check_header(image: Image.Image, max_pixels: int, formats: Collection[str], min_side: int) -> None:
    if image.format not in formats:
        raise ImageRejected(f"unsupported image format {image.format}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(f"image is {width}x{height}, over the {max_pixels} pixel limit", over_limit=True)
    if min(width, height) < max(1, min_side):
        raise ImageRejected(f"image is {width}x{height}, smaller than {max(1, min_side)} px")
