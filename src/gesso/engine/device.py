"""Device and dtype choice: CUDA when present (fp16 weights), else CPU (fp32 weights; the pipeline
adds bf16 autocast for batches large enough to gain from it, see GessoPipeline.bf16_min_batch)."""

from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(requested)


def weights_dtype(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == "cuda" else torch.float32
