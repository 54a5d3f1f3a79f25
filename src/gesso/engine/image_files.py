"""Write generated images as PNG files with their generation parameters in text chunks."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image, PngImagePlugin


def slugify(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "image"


def save_png(image: torch.Tensor, path: Path, parameters: dict[str, str]) -> Path:
    """(3, H, W) uint8 -> PNG with `parameters` as tEXt chunks (prompt, seed, model, ...)."""
    info = PngImagePlugin.PngInfo()
    for key, value in parameters.items():
        info.add_text(f"gesso:{key}", str(value))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(path, pnginfo=info)
    return path
