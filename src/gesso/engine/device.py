"""Device choice: CUDA when present, else CPU. How each computes is engine/precision.py's job."""

from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(requested)

