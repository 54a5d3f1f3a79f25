"""Convert between image bytes or pixels and the tensors the pipeline takes and returns."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from gesso.data.image_decoding import decode_image
from gesso.jobs.output_encoding import encode_output

# Edit and variation inputs reach the engine already checked against the deployment's limits and
# re-encoded as PNG by the route; the engine decodes them again under a ceiling of its own (four
# times the shipped pixel limit, so a deployment that raised `max_upload_pixels` still runs).
INPUT_MAX_BYTES = 128 * 1024 * 1024
INPUT_MAX_PIXELS = 4 * 4096 * 4096


def pixels_of(image: torch.Tensor) -> Image.Image:
    """(3, H, W) or (4, H, W) uint8 -> an RGB or (straight) RGBA image of the same pixels."""
    return Image.fromarray(image.permute(1, 2, 0).cpu().numpy())


def encode_image(image: torch.Tensor, output_format: str = "png", compression: int = 100) -> bytes:
    """(3, H, W) uint8 -> PNG, JPEG or WebP bytes (streamed previews: never stored, not stamped)."""
    return encode_output(pixels_of(image), output_format, compression)


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def to_png_bytes(image: Image.Image, keep_alpha: bool = False) -> bytes:
    """Re-encode a decoded upload as a plain PNG (drops metadata and odd formats)."""
    converted = image.convert("RGBA" if keep_alpha else "RGB")
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG")
    return buffer.getvalue()


def image_tensor(
    data: bytes, size: tuple[int, int], max_bytes: int = INPUT_MAX_BYTES, max_pixels: int = INPUT_MAX_PIXELS
) -> torch.Tensor:
    """Image bytes -> (1, 3, H, W) float in [-1, 1], resized to `size` (width, height).

    Raises ImageRejected (a ValueError) for bytes `decode_image` refuses.
    """
    pil = decode_image(data, max_bytes, max_pixels).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    array = torch.from_numpy(np.asarray(pil, dtype=np.float32)).permute(2, 0, 1)
    return (array / 127.5 - 1.0).unsqueeze(0)


def mask_tensor(
    data: bytes, size: tuple[int, int], max_bytes: int = INPUT_MAX_BYTES, max_pixels: int = INPUT_MAX_PIXELS
) -> torch.Tensor:
    """An OpenAI-style mask (fully transparent = edit here) -> (1, 1, H, W), 1 = repaint.

    Raises ImageRejected (a ValueError) for bytes `decode_image` refuses.
    """
    rgba = decode_image(data, max_bytes, max_pixels).convert("RGBA")
    alpha = rgba.getchannel("A").resize(size, Image.Resampling.NEAREST)
    repaint = np.asarray(alpha, dtype=np.uint8) == 0
    return torch.from_numpy(repaint.astype(np.float32))[None, None]
