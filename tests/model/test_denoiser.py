"""The pooled-prompt path: it starts at zero, reads the prompt once trained, and warm-starts."""

import dataclasses

import pytest
import torch

from gesso.model.denoiser import DENOISER_PRESETS, GessoTransformer2DModel, build_denoiser
from gesso.train.base_loop import WarmStartError, warm_start

TINY = DENOISER_PRESETS["tiny"]


def inputs(batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 4, TINY.latent_size, TINY.latent_size, generator=g)
    states = torch.randn(batch, 8, TINY.text_dim, generator=g)
    mask = torch.ones(batch, 8, dtype=torch.long)
    mask[:, 5:] = 0
    return latents, states, mask, torch.full((batch,), 500.0)


def predict(model, latents, states, mask, t):
    with torch.no_grad():
        return model(latents, encoder_hidden_states=states, encoder_attention_mask=mask, timestep=t).sample


def saved_pipeline_without_pooled_path(tmp_path, preset=TINY):
    plain = build_denoiser(dataclasses.replace(preset, pooled_text_dim=0))
    plain.save_pretrained(tmp_path / "transformer", safe_serialization=True)
    return plain


def test_warm_start_from_a_cross_attention_only_denoiser_keeps_its_predictions(tmp_path):
    torch.manual_seed(0)
    plain = saved_pipeline_without_pooled_path(tmp_path)
    pooled = build_denoiser(TINY)
    assert isinstance(pooled, GessoTransformer2DModel) and not isinstance(plain, GessoTransformer2DModel)
    left_as_built = warm_start(pooled, tmp_path)
    assert left_as_built and all(".pooled_embedder." in k for k in left_as_built)
    x = inputs()
    assert torch.allclose(predict(plain, *x), predict(pooled, *x), atol=1e-6)


def test_pooled_path_once_trained_changes_the_prediction_with_the_prompt(tmp_path):
    torch.manual_seed(0)
    plain = saved_pipeline_without_pooled_path(tmp_path)
    pooled = build_denoiser(TINY)
    warm_start(pooled, tmp_path)
    torch.nn.init.normal_(pooled.adaln_single.emb.pooled_embedder.linear_2.weight, std=0.5)
    x = inputs()
    assert not torch.allclose(predict(plain, *x), predict(pooled, *x), atol=1e-4)
    # padding beyond the mask is read by neither path
    latents, states, mask, t = x
    padded = states.clone()
    padded[:, 5:] = 7.0
    assert torch.allclose(predict(pooled, latents, padded, mask, t), predict(pooled, *x), atol=1e-5)


def test_warm_start_refuses_a_different_architecture(tmp_path):
    saved_pipeline_without_pooled_path(tmp_path, dataclasses.replace(TINY, num_layers=3))
    with pytest.raises(WarmStartError, match="does not match preset"):
        warm_start(build_denoiser(TINY), tmp_path)
    with pytest.raises(WarmStartError, match="no denoiser weights"):
        warm_start(build_denoiser(TINY), tmp_path / "nowhere")
