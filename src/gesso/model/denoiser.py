"""The denoiser: a diffusers PixArt-style transformer conditioned on MiniLM token states."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from diffusers import PixArtTransformer2DModel

from gesso.model.text_encoder import TEXT_DIM


@dataclass(frozen=True)
class DenoiserConfig:
    latent_size: int = 16
    latent_channels: int = 4
    patch_size: int = 2
    num_layers: int = 8
    num_heads: int = 6
    head_dim: int = 48
    text_dim: int = TEXT_DIM


DENOISER_PRESETS: dict[str, DenoiserConfig] = {
    "tiny": DenoiserConfig(latent_size=8, num_layers=2, num_heads=2, head_dim=16),
    "small": DenoiserConfig(num_layers=6, num_heads=4, head_dim=64),
    "base": DenoiserConfig(num_layers=10, num_heads=8, head_dim=48),
}


def build_denoiser(config: DenoiserConfig) -> PixArtTransformer2DModel:
    """A randomly initialised denoiser; cross-attention reads (B, L, text_dim) token states."""
    inner = config.num_heads * config.head_dim
    return PixArtTransformer2DModel(
        num_attention_heads=config.num_heads,
        attention_head_dim=config.head_dim,
        in_channels=config.latent_channels,
        out_channels=config.latent_channels,
        num_layers=config.num_layers,
        cross_attention_dim=inner,
        caption_channels=config.text_dim,
        sample_size=config.latent_size,
        patch_size=config.patch_size,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        use_additional_conditions=False,
        interpolation_scale=1,
    )


def config_dict(config: DenoiserConfig) -> dict:
    return asdict(config)
