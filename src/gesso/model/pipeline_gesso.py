"""GessoPipeline: latent text-to-image flow matching, assembled from diffusers and transformers.

Components: `transformer` (PixArt-style denoiser), `vae` (AutoencoderKL), `scheduler` (a
flow-matching scheduler), `text_encoder` + `tokenizer` (MiniLM). The text encoder is read from its
installed package, so a saved pipeline folder holds only the denoiser, autoencoder and scheduler.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from diffusers import AutoencoderKL, DiffusionPipeline, PixArtTransformer2DModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from PIL import Image

from gesso.model import denoiser as _denoiser  # noqa: F401  (diffusers loads only imported modules)
from gesso.model.alpha_compositing import clean_premultiplied, composite_on_white, to_straight_uint8
from gesso.model.autoencoder import has_alpha
from gesso.model.guidance import apply_guidance, predicted_x0
from gesso.model.text_encoder import encode_text, load_text_encoder

StepCallback = Callable[[int, int, torch.Tensor], None]
BACKGROUNDS = ("opaque", "transparent")


def native_side(transformer_config: Mapping[str, Any], vae_config: Mapping[str, Any]) -> int:
    """The side of the square a pipeline makes, from its denoiser's and autoencoder's configs:
    the latent `sample_size` times the autoencoder's downscaling."""
    return int(transformer_config["sample_size"]) * 2 ** (len(vae_config["block_out_channels"]) - 1)


def sizes_from_configs(transformer_config: Mapping[str, Any], vae_config: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The (width, height) pairs the denoiser was trained for: its native square only."""
    side = native_side(transformer_config, vae_config)
    return [(side, side)]


class GessoPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->transformer->vae"
    # On CPU, fp32 weights run the denoiser under bf16 autocast from this guided batch size up
    # (twice the images); None keeps fp32. The engine sets it from the hardware (engine/precision).
    bf16_from_batch: int | None = None

    def __init__(
        self,
        transformer: PixArtTransformer2DModel,
        vae: AutoencoderKL,
        scheduler: SchedulerMixin,
        text_encoder: Any = None,
        tokenizer: Any = None,
    ):
        super().__init__()
        self.register_modules(
            transformer=transformer,
            vae=vae,
            scheduler=scheduler,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
        )

    # -- sizes -----------------------------------------------------------------------------
    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def native_size(self) -> int:
        return native_side(self.transformer.config, self.vae.config)

    def supported_sizes(self) -> list[tuple[int, int]]:
        """The (width, height) pairs the denoiser was trained for: its native square only."""
        return sizes_from_configs(self.transformer.config, self.vae.config)

    @property
    def has_alpha(self) -> bool:
        """Whether the autoencoder learned an alpha channel, so `background="transparent"` works."""
        return has_alpha(self.vae)

    # -- saving: the text encoder stays in its package ---------------------------------------
    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        text_encoder, tokenizer = self.text_encoder, self.tokenizer
        self.register_modules(text_encoder=None, tokenizer=None)
        try:
            kwargs.setdefault("safe_serialization", True)
            super().save_pretrained(save_directory, **kwargs)
        finally:
            self.register_modules(text_encoder=text_encoder, tokenizer=tokenizer)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", **kwargs: Any) -> "GessoPipeline":
        """Load a saved pipeline (safetensors only) with the packaged MiniLM text encoder."""
        text_encoder, tokenizer = load_text_encoder()
        dtype = kwargs.pop("dtype", torch.float32)
        pipe = cls.from_pretrained(
            str(path),
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            use_safetensors=True,
            dtype=dtype,
            **kwargs,
        )
        pipe.text_encoder.to(torch.float32)  # MiniLM stays fp32: it is small and runs once
        return pipe.to(device)

    # -- the recipe ------------------------------------------------------------------------
    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        states, mask = encode_text(prompts, self.text_encoder, self.tokenizer)
        return states.to(self.transformer.dtype), mask

    def _autocast(self, batch: int) -> contextlib.AbstractContextManager:
        cpu_fp32 = self.device.type == "cpu" and self.transformer.dtype == torch.float32
        if cpu_fp32 and self.bf16_from_batch is not None and batch >= self.bf16_from_batch:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _denoise(
        self, latents: torch.Tensor, t: torch.Tensor, states: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        timestep = t.expand(latents.shape[0]).to(latents.device)
        with self._autocast(latents.shape[0]):
            out = self.transformer(
                latents.to(self.transformer.dtype),
                encoder_hidden_states=states,
                encoder_attention_mask=mask,
                timestep=timestep,
                return_dict=False,
            )[0]
        return out.float()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB, or (B, 4, H, W) premultiplied RGBA, in [-1, 1] -> normalised latents
        (mean of the posterior). An RGBA autoencoder reads an RGB image as opaque."""
        cfg = self.vae.config
        if self.has_alpha and images.shape[1] == 3:
            images = torch.cat([images, torch.ones_like(images[:, :1])], dim=1)
        z = self.vae.encode(images.to(self.device, self.vae.dtype)).latent_dist.mean.float()
        return (z - (cfg.shift_factor or 0.0)) * cfg.scaling_factor

    def decode_latents(self, latents: torch.Tensor, background: str = "opaque") -> torch.Tensor:
        """Normalised latents -> uint8 (B, 3, H, W) RGB, on white when the autoencoder has alpha;
        or, with `background="transparent"` (alpha models only), (B, 4, H, W) straight RGBA."""
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}")
        if background == "transparent" and not self.has_alpha:
            raise ValueError("this model has no alpha channel: transparent backgrounds are not supported")
        cfg = self.vae.config
        z = latents / cfg.scaling_factor + (cfg.shift_factor or 0.0)
        images = self.vae.decode(z.to(self.vae.dtype)).sample.float()
        if not self.has_alpha:
            return images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
        premultiplied = clean_premultiplied(images)
        if background == "transparent":
            return to_straight_uint8(premultiplied)
        return composite_on_white(premultiplied).mul(255.0).round().clamp(0, 255).to(torch.uint8)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        num_inference_steps: int = 20,
        guidance_scale: float = 4.0,
        seed: int | list[int] | None = None,
        height: int | None = None,
        width: int | None = None,
        image: torch.Tensor | None = None,
        mask_image: torch.Tensor | None = None,
        strength: float = 1.0,
        output_type: str = "pil",
        step_callback: StepCallback | None = None,
        background: str = "opaque",
    ) -> list[Image.Image] | torch.Tensor:
        """Generate images.

        prompt: one prompt or a list; each yields `num_images_per_prompt` images.
        seed: image k of the batch uses `seed + k` (or `seed[k]` for a list), so any one image can
            be reproduced alone; None draws a random seed.
        image / mask_image / strength: image-to-image from `image` ((B, 3, H, W) in [-1, 1]) starting
            at noise level `strength`; with `mask_image` ((B, 1, H, W), 1 = repaint) only the masked
            region changes (latent blending at every step).
        step_callback(step, total, denoised_latents) is called after each step, for previews.
        background: "opaque" (on white), or "transparent" for RGBA output (alpha models only).
        Returns PIL images, or a uint8 tensor (B, 3 or 4, H, W) for output_type="pt", or the
        latents for output_type="latent". Raises ValueError for an unsupported size, step count
        or background.
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if negative_prompt is None:
            negatives = [""] * len(prompts)
        elif isinstance(negative_prompt, str):
            negatives = [negative_prompt] * len(prompts)
        else:
            negatives = list(negative_prompt)
        if len(negatives) != len(prompts):
            raise ValueError("negative_prompt must be one string or one per prompt")
        height = height or self.native_size
        width = width or self.native_size
        if (width, height) not in self.supported_sizes():
            raise ValueError(f"size {width}x{height} is not supported; this model makes {self.native_size}x{self.native_size}")
        if num_inference_steps < 1:
            raise ValueError("num_inference_steps must be at least 1")
        if background == "transparent" and not self.has_alpha:
            raise ValueError("this model has no alpha channel: transparent backgrounds are not supported")
        prompts = [p for p in prompts for _ in range(num_images_per_prompt)]
        negatives = [n for n in negatives for _ in range(num_images_per_prompt)]
        batch = len(prompts)

        # 1. encode prompts: conditional and negative/unconditional halves in one batch
        do_cfg = guidance_scale != 1.0
        states, mask = self.encode_prompts(prompts + negatives if do_cfg else prompts)

        # 2. timesteps, shortened for image-to-image
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        timesteps = self.scheduler.timesteps
        start = 0
        if image is not None:
            strength = min(max(strength, 0.0), 1.0)
            start = min(int(round(num_inference_steps * (1.0 - strength))), num_inference_steps - 1)
            timesteps = timesteps[start:]
        if hasattr(self.scheduler, "set_begin_index"):
            self.scheduler.set_begin_index(start)

        # 3. initial latents from per-image seeds
        channels = self.transformer.config.in_channels
        size = height // self.vae_scale_factor
        noise = self.initial_noise(batch, channels, size, seed).to(self.device)
        init_latents = None
        if image is not None:
            init_latents = self.encode_image(image).repeat_interleave(num_images_per_prompt, 0)
            latents = _noised(init_latents, noise, timesteps[0], self.scheduler)
        else:
            latents = noise
        latent_mask = None
        if mask_image is not None and init_latents is not None:
            latent_mask = torch.nn.functional.interpolate(
                mask_image.to(self.device).float(), size=(size, size), mode="area"
            ).repeat_interleave(num_images_per_prompt, 0)

        # 4. denoising loop
        for i, t in enumerate(timesteps):
            model_in = torch.cat([latents, latents]) if do_cfg else latents
            velocity = self._denoise(model_in, t, states, mask)
            if do_cfg:
                cond, uncond = velocity.chunk(2)
                velocity = apply_guidance(cond, uncond, guidance_scale)
            sigma = t.float() / self.scheduler.config.num_train_timesteps
            latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]
            if latent_mask is not None:
                next_t = timesteps[i + 1] if i + 1 < len(timesteps) else None
                known = init_latents if next_t is None else _noised(init_latents, noise, next_t, self.scheduler)
                latents = latent_mask * latents + (1 - latent_mask) * known
            if step_callback is not None:
                step_callback(i + 1, len(timesteps), predicted_x0(model_in[:batch], velocity, sigma))

        if output_type == "latent":
            return latents
        images = self.decode_latents(latents, background)
        if output_type == "pt":
            return images
        return [Image.fromarray(img.permute(1, 2, 0).cpu().numpy()) for img in images]

    @staticmethod
    def initial_noise(batch: int, channels: int, size: int, seed: int | list[int] | None) -> torch.Tensor:
        """(B, C, size, size) Gaussian noise, image k drawn from its own CPU generator."""
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        seeds = list(seed) if isinstance(seed, list) else [seed + k for k in range(batch)]
        if len(seeds) != batch:
            raise ValueError(f"got {len(seeds)} seeds for {batch} images")
        return torch.stack(
            [
                torch.randn(channels, size, size, generator=torch.Generator().manual_seed(s))
                for s in seeds
            ]
        )


def _noised(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, scheduler: SchedulerMixin) -> torch.Tensor:
    sigma = float(t) / scheduler.config.num_train_timesteps
    return (1.0 - sigma) * x0 + sigma * noise
