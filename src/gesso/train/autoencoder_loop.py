"""Train the autoencoder: L1 + MSE reconstruction with a small KL term, on random crops.

The autoencoder is fully convolutional apart from its mid-block attention, so random crops
train it at a quarter of the cost of full images; the last steps use full images. An RGBA preset
(model/autoencoder.py) reads and reconstructs premultiplied RGBA, so the loss weighs colour only
where the image is opaque and alpha like any other channel: edges cannot learn a white halo.

    python -m gesso.train.autoencoder_loop --config configs/autoencoder-rgba128.yaml --threads 1

A run resumes exactly from the newest checkpoint in its out_dir. Without one, `init_from` names
a carried checkpoint (train/carried_checkpoint.py) to warm-start from: its weights, a fresh
optimiser, and the step count and LR schedule going on from its step, the LR ramping up again
over `init_warmup_steps` while Adam's moments refill.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm import tqdm

from gesso.data.dataset_format import read_rows
from gesso.model.alpha_compositing import (
    checkerboard,
    clean_premultiplied,
    composite_over,
    premultiplied_model_range,
)
from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.model.cpu_features import training_precision
from gesso.train.carried_checkpoint import CarriedCheckpointError, config_hash, load_carried
from gesso.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from gesso.train.image_tensors import load_images, to_model_range, to_uint8
from gesso.train.run_config import AutoencoderRunConfig, load_run_config
from gesso.train.sample_grid import save_grid


def random_crops(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), one random crop per image."""
    b, _, h, w = images.shape
    if size >= h:
        return images
    ys = torch.randint(0, h - size + 1, (b,), generator=generator)
    xs = torch.randint(0, w - size + 1, (b,), generator=generator)
    return torch.stack(
        [img[:, y : y + size, x : x + size] for img, y, x in zip(images, ys, xs, strict=True)]
    )


def reconstruction_loss(
    recon: torch.Tensor,
    target: torch.Tensor,
    edge_weight: float = 0.0,
    free_overshoot: bool = False,
) -> torch.Tensor:
    """L1 + MSE over every channel, plus `edge_weight` x L1 of the horizontal and vertical
    differences (a blurred edge has smaller differences than a sharp one, so blur costs more).

    With `free_overshoot`, output beyond -1 or 1 where the target sits on that bound costs
    nothing: decoding clamps it, so fully transparent (and fully opaque) pixels come out exact.
    """
    if free_overshoot:
        past = ((target <= -1) & (recon < target)) | ((target >= 1) & (recon > target))
        recon = torch.where(past, target, recon)
    loss = F.l1_loss(recon, target) + F.mse_loss(recon, target)
    if edge_weight:
        dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
        dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
        loss = loss + edge_weight * (
            F.l1_loss(dx(recon), dx(target)) + F.l1_loss(dy(recon), dy(target))
        )
    return loss


def learning_rate(
    config: AutoencoderRunConfig, step: int, restarted_at: int | None = None
) -> float:
    """Cosine decay over max_steps, floored at 5% of the peak; after a warm start at step
    `restarted_at`, times a linear ramp over `init_warmup_steps`."""
    lr = (
        config.learning_rate
        * 0.5
        * (1 + torch.cos(torch.tensor(step / config.max_steps * torch.pi))).item()
    )
    lr = max(lr, config.learning_rate * 0.05)
    if restarted_at is not None and config.init_warmup_steps > 0:
        lr *= min(1.0, (step - restarted_at + 1) / config.init_warmup_steps)
    return lr


def train_autoencoder(config: AutoencoderRunConfig, progress: bool = True) -> Path:
    """Train (resume exactly, or warm-start) the autoencoder; return the final model's folder.

    Raises CarriedCheckpointError, before any image is read, for an unusable `init_from`.
    """
    accelerator = Accelerator(
        mixed_precision=training_precision(config.mixed_precision), cpu=not torch.cuda.is_available()
    )
    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    preset = AUTOENCODER_PRESETS[config.preset]
    rgba = preset.image_channels == 4
    to_input = premultiplied_model_range if rgba else to_model_range
    vae = build_autoencoder(preset)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)
    step = 0
    warm_starts: list[int] = []  # the steps at which the optimiser started afresh
    if (ckpt := latest_checkpoint(out_dir / "checkpoints")) is not None:
        step, state = load_checkpoint(ckpt, {"vae": vae}, optimizer)
        warm_starts = [int(s) for s in state.get("warm_starts", [])]
        if "generator" in state:
            generator.set_state(state["generator"])
        else:  # a checkpoint from before the batch generator was saved
            generator.manual_seed(config.seed + step)
    elif config.init_from:
        carried = load_carried(Path(config.init_from), vae, config.preset)
        step = carried["step"]
        warm_starts = [*carried.get("warm_starts", []), step]
        generator.manual_seed(config.seed + step)
        if carried.get("config_hash") not in (None, config_hash(config)):
            sys.stderr.write(f"note: {config.init_from} was trained with other settings\n")
    rows = read_rows(Path(config.data_dir))
    mode = "RGBA" if rgba else "RGB"
    images = load_images(Path(config.data_dir), rows, config.image_size, mode, progress)
    vae, optimizer = accelerator.prepare(vae, optimizer)
    full_from = int(config.max_steps * 0.85)
    bar = tqdm(total=config.max_steps, initial=step, desc="autoencoder", disable=not progress)
    started, first_step, seen = time.perf_counter(), step, 0
    window: list[float] = []  # losses since the last progress line (it shows their mean)
    while step < config.max_steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step, warm_starts[-1] if warm_starts else None)
        idx = torch.randint(0, len(images), (config.batch_size,), generator=generator)
        batch = images[idx]
        if step < full_from:
            batch = random_crops(batch, config.crop_size, generator)
        x = to_input(batch).to(accelerator.device)
        with accelerator.autocast():
            posterior = accelerator.unwrap_model(vae).encode(x).latent_dist
            z = posterior.sample()
            recon = accelerator.unwrap_model(vae).decode(z).sample.float()
            loss = reconstruction_loss(recon, x, config.edge_weight, free_overshoot=rgba)
            loss = loss + config.kl_weight * posterior.kl().mean()
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        seen += len(idx)
        window.append(loss.item())
        speed = seen / (time.perf_counter() - started)
        bar.update(1)
        bar.set_postfix(loss=f"{window[-1]:.4f}", img_s=f"{speed:.1f}")
        if config.log_every and (step % config.log_every == 0 or step == config.max_steps):
            eta = (config.max_steps - step) * (time.perf_counter() - started) / (step - first_step)
            tqdm.write(
                f"step {step}/{config.max_steps} loss {sum(window) / len(window):.5f} "
                f"lr {group['lr']:.2e} {speed:.1f} img/s eta {eta / 3600:.1f} h",
                file=sys.stdout,
            )
            sys.stdout.flush()
        if not config.log_every or step % config.log_every == 0:
            window.clear()
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            model = accelerator.unwrap_model(vae)
            ckpt = save_checkpoint(
                out_dir / "checkpoints",
                step,
                {"vae": model},
                optimizer,
                {"generator": generator.get_state(), "warm_starts": warm_starts},
                {"config": asdict(config), "loss": loss.item(), "warm_starts": warm_starts},
            )
            shown = images[torch.linspace(0, len(images) - 1, min(16, len(images))).long()]
            _save_reconstructions(model, shown, ckpt / "reconstructions.png", rgba)
    bar.close()
    final = out_dir / "final"
    model = accelerator.unwrap_model(vae)
    _set_latent_scale(model, images, to_input)
    model.save_pretrained(final, safe_serialization=True)
    (final / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
    return final


@torch.no_grad()
def _set_latent_scale(vae, images: torch.Tensor, to_input, count: int = 1024) -> None:
    """Record shift and scale so that latents have zero mean and unit variance."""
    vae.eval()
    latents = torch.cat(
        [
            vae.encode(to_input(images[i : i + 128])).latent_dist.mean
            for i in range(0, min(count, len(images)), 128)
        ]
    )
    vae.register_to_config(
        shift_factor=float(latents.mean()), scaling_factor=float(1.0 / latents.std())
    )


@torch.no_grad()
def _save_reconstructions(vae, images: torch.Tensor, path: Path, rgba: bool) -> None:
    """Originals above reconstructions; RGBA ones over a checkerboard, so a halo would show."""
    vae.eval()
    x = premultiplied_model_range(images) if rgba else to_model_range(images)
    recon = vae.decode(vae.encode(x).latent_dist.mean).sample
    vae.train()
    if rgba:
        board = checkerboard(images.shape[-1])
        shown = [composite_over(clean_premultiplied(t), board) for t in (x, recon)]
        grid = torch.cat(shown).mul(255).round().clamp(0, 255).to(torch.uint8)
    else:
        grid = torch.cat([images, to_uint8(recon)])
    save_grid(grid, path, columns=len(images))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train (or resume) the autoencoder from a YAML run config."
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data-dir", default=None, help="override data_dir")
    parser.add_argument("--out-dir", default=None, help="override out_dir")
    parser.add_argument("--max-steps", type=int, default=None, help="override max_steps")
    parser.add_argument(
        "--init-from", default=None, help="override init_from (a carried checkpoint folder)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--no-bar", action="store_true", help="progress lines only (for a log file)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {
        "data_dir": args.data_dir,
        "out_dir": args.out_dir,
        "max_steps": args.max_steps,
        "init_from": args.init_from,
    }
    config = load_run_config(args.config, AutoencoderRunConfig, overrides)
    try:
        final = train_autoencoder(config, progress=not args.no_bar)
    except CarriedCheckpointError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(f"{final}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
