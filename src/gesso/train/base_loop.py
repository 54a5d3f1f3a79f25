"""Pretrain the denoiser with flow matching on cached latents and text states.

Per step: pick rows and one caption variant each, drop captions with probability
`caption_dropout` (for classifier-free guidance), draw logit-normal times, regress the velocity.
Run as several processes of one torch process group (Ray Train: `engine/ray_base_training.py`),
each rank draws its share of the batch from its own generator and DDP averages the gradients;
rank 0 writes the cache first, the checkpoints (with every rank's generator) and the pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file
from tqdm import tqdm

from gesso.data.dataset_format import DatasetRow, read_rows
from gesso.model.cpu_features import training_precision
from gesso.model.denoiser import DENOISER_PRESETS, DenoiserConfig, build_denoiser
from gesso.model.guidance import logit_normal_timesteps, noisy_sample, velocity_target
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.samplers import make_scheduler
from gesso.model.text_encoder import load_text_encoder
from gesso.train.carried_checkpoint import (
    DENOISER_WEIGHTS_FILE,
    config_hash,
    is_carried,
    load_carried,
)
from gesso.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from gesso.train.feature_cache import build_feature_cache
from gesso.train.run_config import BaseRunConfig
from gesso.train.sample_grid import save_grid


class WarmStartError(ValueError):
    """`init_from` names no usable denoiser: missing weights or another architecture."""


def concept_weights(rows: list[DatasetRow]) -> torch.Tensor:
    """(N,) sampling weights giving every concept the same share of training, whatever its rows.

    A person emoji comes in six skin tones, an object in one: drawing rows uniformly would spend
    six times the steps on each person as on each object, while adherence counts every concept once.
    """
    concepts = [r.extra.get("concept_id") or r.text for r in rows]
    counts = Counter(concepts)
    return torch.tensor([1.0 / counts[c] for c in concepts], dtype=torch.float64)


def make_batch(
    features: dict[str, torch.Tensor],
    batch_size: int,
    caption_dropout: float,
    generator: torch.Generator,
    row_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(latents (B, C, h, w), text states (B, L, D) float, mask (B, L)) for one training step.

    Rows are drawn uniformly, or in proportion to `row_weights` (N,) when given.
    """
    n, variants = features["states"].shape[:2]
    if row_weights is None:
        idx = torch.randint(0, n, (batch_size,), generator=generator)
    else:
        idx = torch.multinomial(row_weights, batch_size, replacement=True, generator=generator)
    which = torch.randint(0, variants, (batch_size,), generator=generator)
    states = features["states"][idx, which].float()
    mask = features["masks"][idx, which].long()
    drop = torch.rand(batch_size, generator=generator) < caption_dropout
    if drop.any():
        states[drop] = features["empty_states"].float()
        mask[drop] = features["empty_mask"].long()
    return features["latents"][idx], states, mask


def flow_matching_loss(
    model: torch.nn.Module,
    latents: torch.Tensor,
    states: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """MSE between predicted and true velocity at logit-normal times (t scaled to 0..1000)."""
    t = logit_normal_timesteps(latents.shape[0], generator).to(latents.device)
    noise = torch.randn(latents.shape, generator=generator).to(latents.device)
    x_t = noisy_sample(latents, noise, t)
    pred = model(
        x_t, encoder_hidden_states=states, encoder_attention_mask=mask, timestep=t * 1000, return_dict=False
    )[0]
    return F.mse_loss(pred.float(), velocity_target(latents, noise))


def denoiser_config(config: BaseRunConfig) -> DenoiserConfig:
    preset = DENOISER_PRESETS[config.preset]
    return preset if config.pooled_text else dataclasses.replace(preset, pooled_text_dim=0)


def warm_start(transformer: torch.nn.Module, pipeline_dir: Path) -> list[str]:
    """Load a saved pipeline's denoiser weights into `transformer`; return the keys left as built.

    Only parts the saved denoiser lacks may be missing (the pooled path, which starts at zero);
    any other mismatch means a different architecture and raises WarmStartError.
    """
    weights = pipeline_dir / "transformer" / "diffusion_pytorch_model.safetensors"
    if not weights.is_file():
        raise WarmStartError(f"init_from: no denoiser weights at {weights}")
    try:
        result = transformer.load_state_dict(load_file(weights), strict=False)
    except RuntimeError as exc:  # a shape mismatch
        raise WarmStartError(f"init_from {pipeline_dir}: {exc}") from exc
    foreign = [k for k in result.missing_keys if ".pooled_embedder." not in k] + list(result.unexpected_keys)
    if foreign:
        raise WarmStartError(f"init_from {pipeline_dir}: denoiser does not match preset: {', '.join(foreign[:5])}")
    return list(result.missing_keys)


def train_base(config: BaseRunConfig, progress: bool = True) -> Path:
    """Train (or resume) the base denoiser; return the folder of the final pipeline (EMA weights).
    In a process group of several ranks, each takes its share of `batch_size`."""
    accelerator = Accelerator(mixed_precision=training_precision(config.mixed_precision), cpu=not torch.cuda.is_available())
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    progress = progress and rank == 0
    batch_size = max(1, math.ceil(config.batch_size / world))
    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    data_dir = Path(config.data_dir)
    rows = read_rows(data_dir)

    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(config.autoencoder_dir, use_safetensors=True).eval()
    text_encoder, tokenizer = load_text_encoder()
    transformer = build_denoiser(denoiser_config(config))
    ckpt = latest_checkpoint(out_dir / "checkpoints")
    step, warm_starts = 0, []  # warm_starts: the steps at which the optimiser started afresh
    if config.init_from and ckpt is None:  # a resumed run takes its weights from the checkpoint
        step, warm_starts = _start_from(transformer, config)
    pipe = GessoPipeline(transformer, vae, make_scheduler("euler", config.timestep_shift), text_encoder, tokenizer)
    image_size = pipe.native_size
    for turn in range(2 if world > 1 else 1):  # rank 0 writes the cache; then the others read it
        if (turn == 0) == (rank == 0):
            features = build_feature_cache(pipe, data_dir, rows, out_dir / "cache", image_size)
        if world > 1:
            dist.barrier()
    row_weights = concept_weights(rows) if config.balance_concepts else None

    ema = EMAModel(transformer.parameters(), decay=config.ema_decay)
    ema_holder = build_denoiser(denoiser_config(config))
    optimizer = torch.optim.AdamW(transformer.parameters(), lr=config.learning_rate, weight_decay=0.01)
    ema.optimization_step = step
    generator = torch.Generator().manual_seed(config.seed + step + rank)
    if ckpt is not None:
        step, state = load_checkpoint(ckpt, {"transformer": transformer, "ema": ema_holder}, optimizer)
        warm_starts = [int(s) for s in state.get("warm_starts", [])]
        ema.shadow_params = [p.detach().clone() for p in ema_holder.parameters()]
        ema.optimization_step = step
        generators = state.get("generators") or [state["generator"]]
        if rank < len(generators):  # a rank added since keeps its fresh seed
            generator.set_state(generators[rank])
    transformer.train()
    model, optimizer = accelerator.prepare(transformer, optimizer)
    # The compiled wrapper shares `model`'s parameters; checkpoints keep reading `model` itself.
    forward = torch.compile(model) if config.compile else model

    bar = tqdm(total=config.max_steps, initial=step, desc="base", disable=not progress)
    started, seen = time.perf_counter(), 0
    while step < config.max_steps:
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step, warm_starts[-1] if warm_starts else None)
        latents, states, mask = make_batch(features, batch_size, config.caption_dropout, generator, row_weights)
        device = accelerator.device
        with accelerator.autocast():
            loss = flow_matching_loss(forward, latents.to(device), states.to(device), mask.to(device), generator)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.step(accelerator.unwrap_model(model).parameters())
        step += 1
        seen += batch_size * world
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{seen / (time.perf_counter() - started):.0f}")
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            ema.copy_to(ema_holder.parameters())
            generators = _every_rank(generator.get_state(), world, accelerator.device)
            if rank == 0:
                ckpt = save_checkpoint(
                    out_dir / "checkpoints",
                    step,
                    {"transformer": accelerator.unwrap_model(model), "ema": ema_holder},
                    optimizer,
                    {"generator": generator.get_state(), "warm_starts": warm_starts,
                     **({"generators": generators} if world > 1 else {})},
                    {"config": asdict(config), "loss": loss.item(), "warm_starts": warm_starts},
                )
                if config.sample_prompts:
                    _sample_grid(pipe, ema_holder, config.sample_prompts, ckpt / "samples.png")
    bar.close()
    ema.copy_to(ema_holder.parameters())
    final = out_dir / "final"
    if rank != 0:
        dist.barrier()  # rank 0 writes the pipeline
        return final
    shipped = GessoPipeline(ema_holder.eval(), vae, make_scheduler("euler", config.timestep_shift), text_encoder, tokenizer)
    shipped.save_pretrained(final)
    (final / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
    if world > 1:
        dist.barrier()
    return final


def _every_rank(state: torch.Tensor, world: int, device: torch.device) -> list[torch.Tensor]:
    """Each rank's generator state, in rank order (just this one's outside a process group); on
    the ranks' device for the gather (NCCL moves only GPU tensors), back on the CPU after."""
    if world == 1:
        return [state]
    gathered = [torch.empty_like(state, device=device) for _ in range(world)]
    dist.all_gather(gathered, state.to(device))
    return [item.cpu() for item in gathered]


def _learning_rate(config: BaseRunConfig, step: int, restarted_at: int | None = None) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak; after a warm start at step
    `restarted_at`, times a linear ramp over `init_warmup_steps`."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    cosine = 0.5 * (1 + torch.cos(torch.tensor(progress * torch.pi)).item())
    lr = config.learning_rate * (0.1 + 0.9 * cosine)
    if restarted_at is not None and config.init_warmup_steps > 0:
        lr *= min(1.0, (step - restarted_at + 1) / config.init_warmup_steps)
    return lr


def _start_from(transformer: torch.nn.Module, config: BaseRunConfig) -> tuple[int, list[int]]:
    """Weights for a run without checkpoints from `init_from`: a pipeline's denoiser starts a run
    at step 0; a carried checkpoint goes on from its step (a warm start: fresh optimiser)."""
    folder = Path(config.init_from)
    if not is_carried(folder):
        warm_start(transformer, folder)
        return 0, []
    carried = load_carried(folder, transformer, config.preset, DENOISER_WEIGHTS_FILE)  # refuses another shape
    if carried.get("config_hash") != config_hash(config):
        sys.stderr.write(f"note: {folder} was trained with other settings\n")
    step = int(carried["step"])
    return step, [*carried.get("warm_starts", []), step]


@torch.no_grad()
def _sample_grid(pipe: GessoPipeline, weights: torch.nn.Module, prompts: list[str], path: Path) -> None:
    training = pipe.transformer
    pipe.transformer = weights.eval()
    try:
        images = pipe(prompts, seed=0, num_inference_steps=20, guidance_scale=4.0, output_type="pt")
        save_grid(images, path, columns=min(8, len(prompts)))
    finally:
        pipe.transformer = training.train()
