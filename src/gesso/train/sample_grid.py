"""Save a batch of uint8 images as one PNG grid."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image


def save_grid(images: torch.Tensor, path: Path, columns: int = 8, pad: int = 2) -> Path:
    """(N, 3, H, W) uint8 -> a grid PNG at `path` on a white background."""
    n, _, h, w = images.shape
    rows = (n + columns - 1) // columns
    grid = Image.new("RGB", (columns * (w + pad) + pad, rows * (h + pad) + pad), "white")
    for i, image in enumerate(images):
        tile = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
        grid.paste(tile, (pad + (i % columns) * (w + pad), pad + (i // columns) * (h + pad)))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path
