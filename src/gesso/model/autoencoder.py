"""The autoencoder: a diffusers AutoencoderKL, in named presets.

`small` (the shipped gesso-base) maps 64x64 RGB to a 16x16x4 latent (f=4). `rgba128` maps
128x128 premultiplied RGBA (model/alpha_compositing.py) to a 16x16x8 latent (f=8), so the
denoiser still sees 16x16 latents: four channels more than `small` keep the 4x larger, 4-channel
image's detail at the same token count. `tiny` and `tiny-rgba` are their test-sized versions.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers import AutoencoderKL


@dataclass(frozen=True)
class AutoencoderConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128)
    latent_channels: int = 4
    layers_per_block: int = 1
    image_channels: int = 3  # 3: RGB; 4: premultiplied RGBA (alpha learned)


AUTOENCODER_PRESETS: dict[str, AutoencoderConfig] = {
    "tiny": AutoencoderConfig(image_size=32, channels=(8, 16, 32)),
    "small": AutoencoderConfig(),
    "tiny-rgba": AutoencoderConfig(
        image_size=64, channels=(8, 16, 16, 32), latent_channels=8, image_channels=4
    ),
    "rgba128": AutoencoderConfig(
        image_size=128, channels=(32, 64, 128, 128), latent_channels=8, image_channels=4
    ),
}


def build_autoencoder(config: AutoencoderConfig) -> AutoencoderKL:
    """A randomly initialised autoencoder; downsampling factor is 2**(len(channels) - 1)."""
    depth = len(config.channels)
    return AutoencoderKL(
        in_channels=config.image_channels,
        out_channels=config.image_channels,
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


def has_alpha(vae: AutoencoderKL) -> bool:
    """Whether a (loaded) autoencoder reads and writes premultiplied RGBA."""
    return int(vae.config.in_channels) == 4
