"""Classifier-free guidance and the flow-matching relations, as pure functions.

Flow matching here uses the rectified-flow path x_t = (1 - t) x_0 + t * noise (Liu et al. 2022,
Esser et al. 2024 eq. 2-3) with the velocity target v = noise - x_0.
"""

from __future__ import annotations

import torch


def apply_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022): uncond + scale * (cond - uncond)."""
    return uncond + scale * (cond - uncond)


def noisy_sample(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t noise, with t broadcast over (B, C, H, W)."""
    t = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1.0 - t) * x0 + t * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def predicted_x0(x_t: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """The clean sample implied by a velocity prediction at time t: x0 = x_t - t v."""
    if isinstance(t, torch.Tensor):
        t = t.view(-1, *([1] * (x_t.dim() - 1)))
    return x_t - t * velocity


def logit_normal_timesteps(
    batch: int, generator: torch.Generator | None = None, mean: float = 0.0, std: float = 1.0
) -> torch.Tensor:
    """Training times t in (0, 1) from a logit-normal law (Esser et al. 2024, sec. 3.1)."""
    return torch.sigmoid(torch.randn(batch, generator=generator) * std + mean)
