"""The denoiser: a diffusers PixArt transformer conditioned on MiniLM text.

The text reaches it twice: token states through cross-attention (PixArt's own path) and the pooled
sentence embedding added to the timestep embedding that drives every block's adaLN modulation, as
SD3 does with its pooled projections. The pooled path gives each block a global view of the
prompt, and since MiniLM places paraphrases near each other it is also what carries wording the
corpus never used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from diffusers import ModelMixin, PixArtTransformer2DModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import PixArtAlphaCombinedTimestepSizeEmbeddings, PixArtAlphaTextProjection

from gesso.model.text_encoder import TEXT_DIM, pooled_embedding

# A saved pipeline names this module as the denoiser's library; diffusers' loader then looks up
# the base class here (`ModelMixin`) to learn how to load it.
__all__ = ["ModelMixin", "GessoTransformer2DModel", "build_denoiser", "DENOISER_PRESETS"]


@dataclass(frozen=True)
class DenoiserConfig:
    latent_size: int = 16
    latent_channels: int = 4
    patch_size: int = 2
    num_layers: int = 8
    num_heads: int = 6
    head_dim: int = 48
    text_dim: int = TEXT_DIM
    pooled_text_dim: int = TEXT_DIM  # 0: no pooled path (cross-attention only, the first recipe)


DENOISER_PRESETS: dict[str, DenoiserConfig] = {
    "tiny": DenoiserConfig(latent_size=8, num_layers=2, num_heads=2, head_dim=16),
    "small": DenoiserConfig(num_layers=6, num_heads=4, head_dim=64),
    "base": DenoiserConfig(num_layers=10, num_heads=8, head_dim=48),
    # for the RGBA autoencoders' 8-channel latents (model/autoencoder.py `rgba128`, `tiny-rgba`)
    "tiny-rgba": DenoiserConfig(latent_size=8, latent_channels=8, num_layers=2, num_heads=2, head_dim=16),
    "small-rgba": DenoiserConfig(latent_channels=8, num_layers=6, num_heads=4, head_dim=64),
}


class PooledTimestepEmbeddings(PixArtAlphaCombinedTimestepSizeEmbeddings):
    """PixArt's timestep embedding plus a projection of the pooled prompt embedding.

    The projection's output layer starts at zero, so adding it to a trained denoiser leaves that
    denoiser's predictions unchanged until training moves it.
    """

    def __init__(self, embedding_dim: int, pooled_dim: int):
        super().__init__(embedding_dim, size_emb_dim=embedding_dim // 3, use_additional_conditions=False)
        self.pooled_embedder = PixArtAlphaTextProjection(pooled_dim, embedding_dim, act_fn="silu")
        torch.nn.init.zeros_(self.pooled_embedder.linear_2.weight)
        torch.nn.init.zeros_(self.pooled_embedder.linear_2.bias)

    def forward(self, timestep, resolution, aspect_ratio, batch_size, hidden_dtype, pooled_text=None):
        conditioning = super().forward(timestep, resolution, aspect_ratio, batch_size, hidden_dtype)  # (B, D)
        if pooled_text is None:
            return conditioning
        return conditioning + self.pooled_embedder(pooled_text.to(conditioning.dtype))


class GessoTransformer2DModel(PixArtTransformer2DModel):
    """`PixArtTransformer2DModel` whose adaLN conditioning also reads the pooled prompt embedding.

    The pooled embedding is computed here from the token states and their mask, so every caller
    (pipeline, training loops, LoRA) passes exactly what it passes to PixArt.
    """

    @register_to_config
    def __init__(
        self,
        num_attention_heads: int = 4,
        attention_head_dim: int = 64,
        in_channels: int = 4,
        out_channels: int | None = 4,
        num_layers: int = 6,
        cross_attention_dim: int | None = 256,
        caption_channels: int | None = TEXT_DIM,
        sample_size: int = 16,
        patch_size: int = 2,
        norm_type: str = "ada_norm_single",
        norm_elementwise_affine: bool = False,
        norm_eps: float = 1e-6,
        use_additional_conditions: bool | None = False,
        interpolation_scale: int | None = 1,
        pooled_text_dim: int = TEXT_DIM,
    ):
        super().__init__(
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            num_layers=num_layers,
            cross_attention_dim=cross_attention_dim,
            caption_channels=caption_channels,
            sample_size=sample_size,
            patch_size=patch_size,
            norm_type=norm_type,
            norm_elementwise_affine=norm_elementwise_affine,
            norm_eps=norm_eps,
            use_additional_conditions=use_additional_conditions,
            interpolation_scale=interpolation_scale,
        )
        self.adaln_single.emb = PooledTimestepEmbeddings(self.inner_dim, pooled_text_dim)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        timestep: torch.Tensor | None = None,
        added_cond_kwargs: dict[str, Any] | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        return_dict: bool = True,
    ):
        mask = encoder_attention_mask
        if mask is None:
            mask = torch.ones(encoder_hidden_states.shape[:2], device=encoder_hidden_states.device)
        pooled = pooled_embedding(encoder_hidden_states.float(), mask)  # (B, text_dim)
        added = {"resolution": None, "aspect_ratio": None, **(added_cond_kwargs or {}), "pooled_text": pooled}
        return super().forward(
            hidden_states,
            encoder_hidden_states=encoder_hidden_states,
            timestep=timestep,
            added_cond_kwargs=added,
            cross_attention_kwargs=cross_attention_kwargs,
            attention_mask=attention_mask,
            encoder_attention_mask=encoder_attention_mask,
            return_dict=return_dict,
        )


def build_denoiser(config: DenoiserConfig) -> PixArtTransformer2DModel:
    """A randomly initialised denoiser; cross-attention reads (B, L, text_dim) token states.

    With `pooled_text_dim` set it is a `GessoTransformer2DModel` (pooled path starting at zero),
    else a plain `PixArtTransformer2DModel`.
    """
    inner = config.num_heads * config.head_dim
    shape = dict(
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
    if config.pooled_text_dim:
        return GessoTransformer2DModel(**shape, pooled_text_dim=config.pooled_text_dim)
    return PixArtTransformer2DModel(**shape)


def config_dict(config: DenoiserConfig) -> dict:
    return asdict(config)
