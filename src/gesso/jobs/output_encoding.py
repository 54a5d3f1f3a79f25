"""How a job's images are encoded for delivery: the formats a request may ask for, and the one
encoder every delivered image (and every streamed preview) goes through."""

from __future__ import annotations

import io

from PIL import Image

OUTPUT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
# zlib level 1: about a third of the default level's (6) time for files about a quarter larger
# on delivered emoji; encoding was the largest cost per image after sampling (docs/BENCHMARKS.md).
PNG_COMPRESS_LEVEL = 1


def encode_output(image: Image.Image, output_format: str = "png", compression: int = 100) -> bytes:
    """RGB pixels -> PNG, JPEG or WebP bytes; `compression` is the lossy formats' quality.

    Raises ValueError for a format not in OUTPUT_FORMATS.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unsupported output format {output_format!r}")
    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        image.save(buffer, format=output_format.upper(), quality=max(1, compression))
    return buffer.getvalue()
