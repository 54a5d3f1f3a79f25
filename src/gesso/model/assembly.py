"""Assemble a GessoPipeline from presets: random weights for tests, trained parts for shipping."""

from __future__ import annotations

from diffusers import AutoencoderKL

from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.model.denoiser import DENOISER_PRESETS, build_denoiser
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.samplers import make_scheduler
from gesso.model.text_encoder import load_text_encoder


def assemble_pipeline(
    denoiser_preset: str = "tiny",
    autoencoder_preset: str = "tiny",
    vae: AutoencoderKL | None = None,
    sampler: str = "euler",
) -> GessoPipeline:
    """A pipeline with a randomly initialised denoiser (and autoencoder unless `vae` is given)."""
    transformer = build_denoiser(DENOISER_PRESETS[denoiser_preset]).eval()
    if vae is None:
        vae = build_autoencoder(AUTOENCODER_PRESETS[autoencoder_preset]).eval()
    text_encoder, tokenizer = load_text_encoder()
    return GessoPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=make_scheduler(sampler),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
    )
