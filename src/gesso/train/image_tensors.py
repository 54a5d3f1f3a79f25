"""Load a validated dataset's images into one uint8 tensor (the corpus fits in memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from gesso.data.dataset_format import DatasetRow


def load_images(
    root: Path, rows: list[DatasetRow], size: int, mode: str = "RGB", progress: bool = True
) -> torch.Tensor:
    """(N, C, size, size) uint8 in `mode` ("RGB", or "RGBA" with straight alpha: C = 4).

    Images are resized to `size` when they differ (Pillow resamples RGBA premultiplied, so
    transparent pixels lend no colour to their neighbours); an image without alpha is opaque.
    """
    out = torch.empty(len(rows), len(mode), size, size, dtype=torch.uint8)
    bar = tqdm(rows, desc="load images", unit="img", leave=False, disable=not progress)
    for i, row in enumerate(bar):
        with Image.open(root / row.file_name) as image:
            image = image.convert(mode)
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.LANCZOS)
            out[i] = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    return out


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return images.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
