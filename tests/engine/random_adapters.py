"""LoRA adapters with random weights, saved as a fine-tune would save them, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import torch

from gesso.model.adapters import AdapterSpec, add_lora, denoiser_fingerprint, save_adapter
from gesso.model.pipeline_gesso import GessoPipeline


def make_adapter(pipe_dir: Path, folder: Path, seed: int, scale: float = 0.3, base_model: str = "tiny") -> Path:
    """Save an adapter with random non-zero LoRA weights (N(0, scale)) for the pipeline at `pipe_dir`."""
    pipe = GessoPipeline.load(pipe_dir)
    spec = AdapterSpec(rank=4, alpha=4, base_model=base_model, base_fingerprint=denoiser_fingerprint(pipe.transformer))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in add_lora(pipe.transformer, spec, "x"):
            p.add_(torch.randn(p.shape, generator=generator) * scale)
    return save_adapter(folder, pipe.transformer, "x", spec)
