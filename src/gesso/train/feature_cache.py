"""Cache autoencoder latents and MiniLM token states once, so training never re-encodes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from gesso.data.dataset_format import DatasetRow
from gesso.model.alpha_compositing import premultiplied_model_range
from gesso.model.autoencoder import has_alpha
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.text_encoder import encode_text
from gesso.train.captions import VARIANTS_PER_ROW, caption_variants
from gesso.train.image_tensors import load_images, to_model_range


def cache_key(data_dir: Path, autoencoder_dir: Path, rows: list[DatasetRow]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([r.to_json() for r in rows], sort_keys=True).encode())
    for f in sorted(autoencoder_dir.glob("*")):
        digest.update(f.name.encode() + str(f.stat().st_size).encode() + str(f.stat().st_mtime_ns).encode())
    return digest.hexdigest()[:16]


@torch.no_grad()
def build_feature_cache(
    pipe: GessoPipeline, data_dir: Path, rows: list[DatasetRow], cache_dir: Path, image_size: int
) -> dict[str, torch.Tensor]:
    """Return {latents (N, C, h, w), states (N, V, L, D) fp16, masks (N, V, L) uint8, empty...}.

    Reads `cache_dir/features-<key>.safetensors` when present, else computes and writes it.
    """
    key = cache_key(data_dir, Path(pipe.vae.config._name_or_path or "."), rows)
    path = cache_dir / f"features-{key}.safetensors"
    if path.is_file():
        return load_file(path)
    rgba = has_alpha(pipe.vae)
    images = load_images(data_dir, rows, image_size, "RGBA" if rgba else "RGB")
    to_input = premultiplied_model_range if rgba else to_model_range
    latents = []
    for i in tqdm(range(0, len(images), 128), desc="cache latents", unit="batch"):
        latents.append(pipe.encode_image(to_input(images[i : i + 128])).cpu())
    captions = [c for row in rows for c in caption_variants(row)]
    states, masks = [], []
    for i in tqdm(range(0, len(captions), 256), desc="cache text states", unit="batch"):
        s, m = encode_text(captions[i : i + 256], pipe.text_encoder, pipe.tokenizer)
        states.append(s.half().cpu())
        masks.append(m.to(torch.uint8).cpu())
    empty_states, empty_mask = encode_text([""], pipe.text_encoder, pipe.tokenizer)
    n = len(rows)
    features = {
        "latents": torch.cat(latents).contiguous(),
        "states": torch.cat(states).view(n, VARIANTS_PER_ROW, *states[0].shape[1:]).contiguous(),
        "masks": torch.cat(masks).view(n, VARIANTS_PER_ROW, -1).contiguous(),
        "empty_states": empty_states.half().cpu().contiguous(),
        "empty_mask": empty_mask.to(torch.uint8).cpu().contiguous(),
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    save_file(features, path)
    return features
