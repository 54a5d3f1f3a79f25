"""What a LoRA fine-tune trains on: latents and caption states cached once per dataset, and the
held-out loss at fixed times and noise."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from gesso.data.dataset_format import DatasetRow
from gesso.model.adapters import denoiser_fingerprint
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.text_encoder import encode_text
from gesso.train.base_loop import flow_matching_loss
from gesso.train.image_tensors import load_images, to_model_range


@torch.no_grad()
def cache_caption_features(
    pipe: GessoPipeline, data_dir: Path, rows: list[DatasetRow], captions: list[str], cache_dir: Path
) -> tuple[dict[str, torch.Tensor], str]:
    """Latents and one caption's token states per image, in `make_batch`'s layout (one variant).

    Returns ({latents (N, C, h, w), states (N, 1, L, D) fp16, masks (N, 1, L) uint8, empty_*}, key);
    read from `cache_dir/features-<key>.safetensors` when the same images, captions and model
    were cached before.
    """
    digest = hashlib.sha256(denoiser_fingerprint(pipe.transformer).encode())
    digest.update(json.dumps(dict(pipe.vae.config), sort_keys=True, default=str).encode())
    for row, caption in zip(rows, captions):
        digest.update(json.dumps([row.file_name, caption]).encode())
        digest.update(hashlib.sha256((data_dir / row.file_name).read_bytes()).digest())
    key = digest.hexdigest()[:16]
    path = cache_dir / f"features-{key}.safetensors"
    if path.is_file():
        return load_file(path), key
    images = load_images(data_dir, rows, pipe.native_size)  # (N, 3, H, W) uint8
    latents = torch.cat(
        [pipe.encode_image(to_model_range(images[i : i + 32])).cpu() for i in range(0, len(images), 32)]
    )
    states, masks = [], []
    for i in range(0, len(captions), 64):
        s, m = encode_text(captions[i : i + 64], pipe.text_encoder, pipe.tokenizer)
        states.append(s.half().cpu())
        masks.append(m.to(torch.uint8).cpu())
    empty_states, empty_mask = encode_text([""], pipe.text_encoder, pipe.tokenizer)
    features = {
        "latents": latents.contiguous(),
        "states": torch.cat(states).unsqueeze(1).contiguous(),  # (N, 1, L, D)
        "masks": torch.cat(masks).unsqueeze(1).contiguous(),  # (N, 1, L)
        "empty_states": empty_states.half().cpu().contiguous(),
        "empty_mask": empty_mask.to(torch.uint8).cpu().contiguous(),
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(features, tmp)
    tmp.rename(path)
    return features, key


@torch.no_grad()
def validation_loss(
    transformer: torch.nn.Module, features: dict[str, torch.Tensor], seed: int, batch_size: int = 16
) -> float:
    """Mean flow-matching loss over a held-out set at fixed times and noise (its own generator,
    so measuring never moves the training RNG)."""
    generator = torch.Generator().manual_seed(seed)
    device = next(transformer.parameters()).device
    n, total = features["latents"].shape[0], 0.0
    for i in range(0, n, batch_size):
        part = slice(i, min(n, i + batch_size))
        latents = features["latents"][part].to(device)
        states = features["states"][part, 0].float().to(device)
        mask = features["masks"][part, 0].long().to(device)
        total += flow_matching_loss(transformer, latents, states, mask, generator).item() * latents.shape[0]
    return total / n
