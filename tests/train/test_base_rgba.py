"""The RGBA path of the base model: an 8-channel denoiser trains on premultiplied RGBA latents,
and its pipeline gives straight RGBA for a transparent background and RGB on white otherwise."""

from pathlib import Path

import pytest
import torch

from gesso.model.alpha_compositing import composite_on_white, premultiplied_model_range
from gesso.model.assembly import assemble_pipeline
from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.train.base_loop import train_base
from gesso.train.feature_cache import build_feature_cache
from gesso.train.run_config import BaseRunConfig
from tests.train.test_autoencoder_loop import write_transparent_shapes


@pytest.fixture(scope="module")
def rgba_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("base-rgba")
    data = write_transparent_shapes(root / "data", size=64)
    torch.manual_seed(0)
    build_autoencoder(AUTOENCODER_PRESETS["tiny-rgba"]).save_pretrained(root / "vae", safe_serialization=True)
    config = BaseRunConfig(
        data_dir=str(data), autoencoder_dir=str(root / "vae"), out_dir=str(root / "run"), preset="tiny-rgba",
        batch_size=4, learning_rate=1e-3, warmup_steps=1, max_steps=2, checkpoint_every=2,
        mixed_precision="no", sample_prompts=["red shape"],
    )
    return train_base(config, progress=False), root


def test_an_eight_channel_denoiser_trains_on_rgba_latents_and_its_pipeline_makes_both_backgrounds(rgba_run):
    final, root = rgba_run
    pipe = GessoPipeline.load(final)
    assert pipe.has_alpha and pipe.native_size == 64
    assert pipe.transformer.config.in_channels == 8
    transparent = pipe("red shape", seed=3, num_inference_steps=2, output_type="pt", background="transparent")
    opaque = pipe("red shape", seed=3, num_inference_steps=2, output_type="pt")
    assert transparent.shape == (1, 4, 64, 64) and transparent.dtype == torch.uint8
    assert opaque.shape == (1, 3, 64, 64)
    # the opaque image is the transparent one over white, from the same seed
    straight = transparent.float() / 255
    premultiplied = torch.cat([straight[:, :3] * straight[:, 3:], straight[:, 3:]], dim=1)
    on_white = composite_on_white(premultiplied).mul(255)
    assert (on_white - opaque.float()).abs().max() <= 2.0
    assert (root / "run" / "checkpoints" / "step-0000002" / "samples.png").is_file()


def test_the_feature_cache_encodes_premultiplied_rgba(rgba_run, tmp_path):
    final, root = rgba_run
    pipe = GessoPipeline.load(final)
    from gesso.data.dataset_format import read_rows
    from gesso.train.image_tensors import load_images

    data = root / "data"
    rows = read_rows(data)
    features = build_feature_cache(pipe, data, rows, tmp_path / "cache", 64)
    expected = pipe.encode_image(premultiplied_model_range(load_images(data, rows, 64, "RGBA", progress=False)))
    assert features["latents"].shape == (len(rows), 8, 8, 8)
    torch.testing.assert_close(features["latents"], expected)


def test_an_rgba_model_reads_an_rgb_image_as_opaque():
    torch.manual_seed(0)
    pipe = assemble_pipeline("tiny-rgba", "tiny-rgba")
    rgb = torch.rand(1, 3, 64, 64) * 2 - 1
    opaque = torch.cat([rgb, torch.ones(1, 1, 64, 64)], dim=1)
    torch.testing.assert_close(pipe.encode_image(rgb), pipe.encode_image(opaque))


def test_a_model_without_alpha_refuses_a_transparent_background(tiny_pipeline):
    assert not tiny_pipeline.has_alpha
    with pytest.raises(ValueError, match="no alpha channel"):
        tiny_pipeline("red circle", num_inference_steps=1, output_type="pt", background="transparent")
    with pytest.raises(ValueError, match="background must be"):
        tiny_pipeline.decode_latents(torch.zeros(1, 4, 8, 8), background="checkered")
