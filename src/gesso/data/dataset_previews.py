"""The preview of a stored dataset: a grid of its first images, shown when an upload is accepted."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

from gesso.data.dataset_format import DatasetRow


def preview_grid(root: Path, rows: list[DatasetRow], tile: int = 64, columns: int = 4, pad: int = 2) -> bytes:
    """PNG bytes of a grid of the rows' images, each fitted into a `tile`-pixel square."""
    count = max(1, len(rows))
    columns = min(columns, count)
    lines = (count + columns - 1) // columns
    grid = Image.new("RGB", (columns * (tile + pad) + pad, lines * (tile + pad) + pad), "white")
    for i, row in enumerate(rows):
        with Image.open(root / row.file_name) as image:
            thumb = ImageOps.fit(image.convert("RGB"), (tile, tile))
        grid.paste(thumb, (pad + (i % columns) * (tile + pad), pad + (i // columns) * (tile + pad)))
    out = io.BytesIO()
    grid.save(out, format="PNG")
    return out.getvalue()
