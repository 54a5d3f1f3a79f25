"""Train the recogniser on the corpus with augmentations that mimic generation artefacts."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from gesso.data.dataset_format import read_rows
from gesso.train.image_tensors import load_images, to_model_range
from gesso.train.recogniser_net import INPUT_SIZE, Recogniser, RecogniserConfig, save_recogniser
from gesso.train.run_config import RecogniserRunConfig


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shift/scale/rotation, brightness and contrast, blur and noise; (B, 3, H, W) in [-1, 1]."""
    b = images.shape[0]
    angle = (torch.rand(b, generator=generator) - 0.5) * (math.pi / 9)
    scale = 0.85 + 0.3 * torch.rand(b, generator=generator)
    shift = (torch.rand(b, 2, generator=generator) - 0.5) * 0.25
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images + 1, grid, align_corners=False, padding_mode="zeros") - 1  # pad white
    out = out.clone()
    white = (out == -1).all(dim=1, keepdim=True)
    out = torch.where(white, torch.ones_like(out), out)
    contrast = 0.75 + 0.5 * torch.rand(b, 1, 1, 1, generator=generator)
    bright = (torch.rand(b, 1, 1, 1, generator=generator) - 0.5) * 0.3
    out = out * contrast + bright
    blur = torch.rand(b, generator=generator) < 0.3
    if blur.any():
        out[blur] = F.avg_pool2d(out[blur], 3, 1, 1, count_include_pad=False)
    out = out + torch.randn(out.shape, generator=generator) * 0.05 * torch.rand(b, 1, 1, 1, generator=generator)
    return out.clamp(-1, 1)


def train_recogniser(config: RecogniserRunConfig, progress: bool = True) -> Path:
    """Train on every corpus image (labels: concept_id); write the model folder and return it."""
    torch.manual_seed(config.seed)
    data_dir = Path(config.data_dir)
    rows = read_rows(data_dir)
    concepts = sorted({r.extra["concept_id"] for r in rows})
    index = {c: i for i, c in enumerate(concepts)}
    names = {r.extra["concept_id"]: r.extra["concept"] for r in rows}
    labels = torch.tensor([index[r.extra["concept_id"]] for r in rows])
    images = load_images(data_dir, rows, config.image_size)
    small = F.interpolate(to_model_range(images), size=(INPUT_SIZE, INPUT_SIZE), mode="area")
    model = Recogniser(RecogniserConfig(num_classes=len(concepts)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.max_steps)
    generator = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()
    bar = tqdm(range(config.max_steps), desc="recogniser", disable=not progress)
    for step in bar:
        idx = torch.randint(0, len(rows), (config.batch_size,), generator=generator)
        x = augment(small[idx], generator)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.mixed_precision == "bf16"):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), labels[idx], label_smoothing=0.1)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        rate = (step + 1) * config.batch_size / (time.perf_counter() - started)
        bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{rate:.0f}")
    model.eval()
    out_dir = Path(config.out_dir)
    save_recogniser(model, [{"concept_id": c, "concept": names[c]} for c in concepts], out_dir)
    return out_dir
