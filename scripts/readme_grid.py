"""Render docs/images/base-grid.png (and its prompt list) from configs/readme-prompts.jsonl.

Run: .venv/bin/python scripts/readme_grid.py  (uses the shipped model, seed 0, default settings)
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from gesso.engine.device import pick_device
from gesso.engine.model_registry import resolve_model
from gesso.engine.pipeline_cache import pipeline_cache_for
from gesso.settings import get_settings

SCALE = 2  # the grid is shown at 128 px per image so that it reads on a README page


def main() -> None:
    settings = get_settings()
    model_dir = resolve_model(settings.default_model, settings.models_dir)
    pipe = pipeline_cache_for(settings, pick_device(settings.device)).get(model_dir, settings.default_sampler)
    lines = [json.loads(x) for x in Path("configs/readme-prompts.jsonl").read_text().splitlines() if x.strip()]
    prompts = [x["prompt"] for x in lines]
    images = pipe(prompts, seed=[x["seed"] for x in lines], num_inference_steps=settings.default_steps,
                  guidance_scale=settings.default_guidance, output_type="pt")
    size, pad, cols = pipe.native_size * SCALE, 4, 8
    rows = (len(prompts) + cols - 1) // cols
    grid = Image.new("RGB", (cols * (size + pad) + pad, rows * (size + pad) + pad), "white")
    for i, image in enumerate(images):
        tile = Image.fromarray(image.permute(1, 2, 0).numpy()).resize((size, size), Image.Resampling.NEAREST)
        grid.paste(tile, (pad + (i % cols) * (size + pad), pad + (i // cols) * (size + pad)))
    out = Path("docs/images")
    out.mkdir(parents=True, exist_ok=True)
    grid.save(out / "base-grid.png")
    table = ["# Prompts of base-grid.png", "", "Left to right, top to bottom; seed 0, "
             f"sampler {settings.default_sampler}, {settings.default_steps} steps, guidance {settings.default_guidance}, shown at {SCALE}x (nearest).", ""]
    table += [f"{i + 1}. `{p}`" for i, p in enumerate(prompts)]
    (out / "base-grid.md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
