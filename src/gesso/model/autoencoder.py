"""The autoencoder: a diffusers AutoencoderKL that maps 64x64 RGB to a 16x16x4 latent (f=4)."""

from __future__ import annotations

from dataclasses import dataclass

from diffusers import AutoencoderKL


@dataclass(frozen=True)
class AutoencoderConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128)
    latent_channels: int = 4
    layers_per_block: int = 1


AUTOENCODER_PRESETS: dict[str, AutoencoderConfig] = {
    "tiny": AutoencoderConfig(image_size=32, channels=(8, 16, 32)),
    "small": AutoencoderConfig(),
}


def build_autoencoder(config: AutoencoderConfig) -> AutoencoderKL:
    """A randomly initialised autoencoder; downsampling factor is 2**(len(channels) - 1)."""
    depth = len(config.channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * depth,
        up_block_types=("UpDecoderBlock2D",) * depth,
        block_out_channels=config.channels,
        layers_per_block=config.layers_per_block,
        latent_channels=config.latent_channels,
        norm_num_groups=min(32, config.channels[0]),
        sample_size=config.image_size,
    )


def downsample_factor(config: AutoencoderConfig) -> int:
    return 2 ** (len(config.channels) - 1)
