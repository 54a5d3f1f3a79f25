"""Train the autoencoder: L1 + MSE reconstruction with a small KL term, on random crops.

The autoencoder is fully convolutional apart from its mid-block attention, so random crops
train it at a quarter of the cost of full images; the last steps use full images.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm import tqdm

from gesso.data.dataset_format import read_rows
from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from gesso.train.image_tensors import load_images, to_model_range, to_uint8
from gesso.train.run_config import AutoencoderRunConfig
from gesso.train.sample_grid import save_grid


def random_crops(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), one random crop per image."""
    b, _, h, w = images.shape
    if size >= h:
        return images
    ys = torch.randint(0, h - size + 1, (b,), generator=generator)
    xs = torch.randint(0, w - size + 1, (b,), generator=generator)
    return torch.stack([img[:, y : y + size, x : x + size] for img, y, x in zip(images, ys, xs)])


def train_autoencoder(config: AutoencoderRunConfig, progress: bool = True) -> Path:
    """Train (or resume) the autoencoder; return the folder of the final diffusers model."""
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available())
    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    rows = read_rows(Path(config.data_dir))
    images = load_images(Path(config.data_dir), rows, config.image_size)
    vae = build_autoencoder(AUTOENCODER_PRESETS[config.preset])
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.learning_rate, weight_decay=0.0)
    step = 0
    if (ckpt := latest_checkpoint(out_dir / "checkpoints")) is not None:
        step, _ = load_checkpoint(ckpt, {"vae": vae}, optimizer)
    vae, optimizer = accelerator.prepare(vae, optimizer)
    generator = torch.Generator().manual_seed(config.seed + step)
    full_from = int(config.max_steps * 0.85)
    bar = tqdm(total=config.max_steps, initial=step, desc="autoencoder", disable=not progress)
    started = time.perf_counter()
    seen = 0
    while step < config.max_steps:
        lr = config.learning_rate * 0.5 * (1 + torch.cos(torch.tensor(step / config.max_steps * torch.pi))).item()
        for group in optimizer.param_groups:
            group["lr"] = max(lr, config.learning_rate * 0.05)
        idx = torch.randint(0, len(images), (config.batch_size,), generator=generator)
        batch = images[idx]
        if step < full_from:
            batch = random_crops(batch, config.crop_size, generator)
        x = to_model_range(batch).to(accelerator.device)
        with accelerator.autocast():
            posterior = accelerator.unwrap_model(vae).encode(x).latent_dist
            z = posterior.sample()
            recon = accelerator.unwrap_model(vae).decode(z).sample.float()
            loss = F.l1_loss(recon, x) + F.mse_loss(recon, x)
            loss = loss + config.kl_weight * posterior.kl().mean()
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        seen += len(idx)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{seen / (time.perf_counter() - started):.0f}")
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            model = accelerator.unwrap_model(vae)
            ckpt = save_checkpoint(
                out_dir / "checkpoints", step, {"vae": model}, optimizer, {}, {"config": asdict(config)}
            )
            _save_reconstructions(model, images[:16], ckpt / "reconstructions.png")
    bar.close()
    final = out_dir / "final"
    model = accelerator.unwrap_model(vae)
    _set_latent_scale(model, images)
    model.save_pretrained(final, safe_serialization=True)
    (final / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
    return final


@torch.no_grad()
def _set_latent_scale(vae, images: torch.Tensor, count: int = 1024) -> None:
    """Record shift and scale so that latents have zero mean and unit variance."""
    vae.eval()
    latents = torch.cat(
        [vae.encode(to_model_range(images[i : i + 128])).latent_dist.mean for i in range(0, min(count, len(images)), 128)]
    )
    vae.register_to_config(shift_factor=float(latents.mean()), scaling_factor=float(1.0 / latents.std()))


@torch.no_grad()
def _save_reconstructions(vae, images: torch.Tensor, path: Path) -> None:
    vae.eval()
    x = to_model_range(images)
    recon = vae.decode(vae.encode(x).latent_dist.mean).sample
    vae.train()
    save_grid(torch.cat([images, to_uint8(recon)]), path, columns=len(images))
