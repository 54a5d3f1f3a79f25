import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL

from gesso.model.autoencoder import (
    AUTOENCODER_PRESETS,
    build_autoencoder,
    downsample_factor,
    has_alpha,
)

SHIPPED_VAE = Path(__file__).resolve().parents[2] / "models" / "gesso-base" / "vae" / "config.json"


def test_rgba128_maps_128_px_rgba_to_16x16_latents_and_back():
    config = AUTOENCODER_PRESETS["rgba128"]
    assert downsample_factor(config) == 8
    vae = build_autoencoder(config).eval()
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 4, 128, 128)).latent_dist.mean
        out = vae.decode(z).sample
    assert z.shape == (1, 8, 16, 16)
    assert out.shape == (1, 4, 128, 128)
    assert sum(p.numel() for p in vae.parameters()) < 6_000_000  # trains on CPU


def test_tiny_rgba_round_trips_through_the_diffusers_layout(tmp_path):
    torch.manual_seed(0)
    vae = build_autoencoder(AUTOENCODER_PRESETS["tiny-rgba"]).eval()
    vae.save_pretrained(tmp_path / "vae", safe_serialization=True)
    loaded = AutoencoderKL.from_pretrained(tmp_path / "vae").eval()
    assert has_alpha(loaded) and loaded.config.out_channels == 4
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    with torch.no_grad():
        a = vae.decode(vae.encode(x).latent_dist.mean).sample
        b = loaded.decode(loaded.encode(x).latent_dist.mean).sample
    assert a.shape == (2, 4, 32, 32) and torch.equal(a, b)


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_rgb_presets_keep_three_channels(name):
    vae = build_autoencoder(AUTOENCODER_PRESETS[name])
    assert vae.config.in_channels == vae.config.out_channels == 3 and not has_alpha(vae)


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def test_small_preset_still_builds_the_shipped_autoencoder():
    shipped = json.loads(SHIPPED_VAE.read_text())
    built = build_autoencoder(AUTOENCODER_PRESETS["small"]).config
    for key in (
        "in_channels",
        "out_channels",
        "latent_channels",
        "layers_per_block",
        "norm_num_groups",
        "sample_size",
        "down_block_types",
        "up_block_types",
        "block_out_channels",
    ):
        assert _plain(built[key]) == _plain(shipped[key]), key
