"""Alpha for the RGBA autoencoder: it reads and writes premultiplied RGBA in [-1, 1].

Premultiplied colour is zero wherever the image is transparent, so the autoencoder never has to
reproduce (or invent) colour under alpha 0, and compositing is one multiply-add: a decoded edge
over white cannot turn into a white or black halo. All functions are pure, on (N, 4, H, W) tensors.
"""

from __future__ import annotations

import torch

# Decoded alpha below this is set to exactly 0 (and colour with it): fully transparent stays so.
ALPHA_FLOOR = 1.5 / 255


def premultiplied_model_range(rgba: torch.Tensor) -> torch.Tensor:
    """uint8 straight RGBA (N, 4, H, W) -> float premultiplied RGBA in [-1, 1]."""
    x = rgba.float() / 255.0
    alpha = x[:, 3:4]
    return torch.cat([x[:, :3] * alpha, alpha], dim=1).mul(2.0).sub(1.0)


def clean_premultiplied(decoded: torch.Tensor) -> torch.Tensor:
    """Decoder output in [-1, 1] -> valid premultiplied RGBA in [0, 1] (colour <= alpha).

    Alpha under ALPHA_FLOOR becomes 0, so corners the decoder leaves faintly non-zero are clean.
    """
    x = decoded.float().add(1.0).div(2.0).clamp(0.0, 1.0)
    alpha = torch.where(x[:, 3:4] < ALPHA_FLOOR, torch.zeros_like(x[:, 3:4]), x[:, 3:4])
    colour = torch.minimum(x[:, :3], alpha)
    return torch.cat([colour, alpha], dim=1)


def to_straight_uint8(premultiplied: torch.Tensor) -> torch.Tensor:
    """Premultiplied RGBA in [0, 1] -> straight (PNG) RGBA uint8; colour is 0 where alpha is 0."""
    alpha = premultiplied[:, 3:4]
    colour = torch.where(
        alpha > 0, premultiplied[:, :3] / alpha.clamp_min(1e-6), torch.zeros_like(alpha)
    )
    straight = torch.cat([colour.clamp(0.0, 1.0), alpha], dim=1)
    return straight.mul(255.0).round().clamp(0, 255).to(torch.uint8)


def composite_over(premultiplied: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Premultiplied RGBA in [0, 1] over an RGB background in [0, 1] (broadcast) -> RGB."""
    alpha = premultiplied[:, 3:4]
    return premultiplied[:, :3] + (1.0 - alpha) * background


def composite_on_white(premultiplied: torch.Tensor) -> torch.Tensor:
    """Premultiplied RGBA in [0, 1] -> RGB in [0, 1] on white (the `opaque` background)."""
    return composite_over(
        premultiplied,
        torch.ones(1, 3, 1, 1, dtype=premultiplied.dtype, device=premultiplied.device),
    )


def checkerboard(size: int, cell: int = 8) -> torch.Tensor:
    """(1, 3, size, size) light-grey checkerboard in [0, 1], to show transparency in a grid."""
    idx = torch.arange(size) // cell
    board = ((idx[:, None] + idx[None, :]) % 2).float() * 0.2 + 0.7
    return board.expand(1, 3, size, size)
