"""Carry an autoencoder run to a later session: its newest exact checkpoint becomes a carried
checkpoint (train/carried_checkpoint.py), once fp16 weights are shown to reconstruct as well as
the fp32 ones on a few of the run's images.

    gesso train carry --run-dir runs/autoencoder-rgba128 --out models/carried/NAME \
        --config configs/autoencoder-rgba128.yaml
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from gesso.data.dataset_format import read_rows
from gesso.model.alpha_compositing import premultiplied_model_range
from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.train.autoencoder_loop import reconstruction_loss
from gesso.train.carried_checkpoint import (
    PREVIEW_FILE,
    WEIGHTS_FILE,
    CarriedCheckpointError,
    carried_meta,
    check_same_settings,
    write_carried,
)
from gesso.train.checkpoints import META_FILE, latest_checkpoint
from gesso.train.image_tensors import load_images, to_model_range
from gesso.train.run_config import AutoencoderRunConfig, load_run_config


def carry_autoencoder_run(
    run_dir: Path,
    out: Path,
    config_file: Path | None = None,
    data_dir: Path | None = None,
    check_images: int = 16,
    tolerance: float = 0.01,
) -> dict[str, Any]:
    """Write `out` from the newest checkpoint under `run_dir/checkpoints`; return its meta.

    `config_file`, when given, names the config and must hold the run's settings. The fp16
    check reads `check_images` images of `data_dir` (default: the run's) and refuses a
    relative change of the reconstruction loss above `tolerance`; 0 images skips it.
    """
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None:
        raise CarriedCheckpointError(f"{run_dir}: no checkpoint under {run_dir / 'checkpoints'}")
    source = json.loads((ckpt / META_FILE).read_text())
    try:
        config = AutoencoderRunConfig(**source["config"])
    except (KeyError, TypeError) as exc:
        raise CarriedCheckpointError(f"{ckpt}: not an autoencoder checkpoint ({exc})") from exc
    if config_file is not None:
        check_same_settings(
            config, load_run_config(config_file, AutoencoderRunConfig), config_file
        )
    weights = load_file(ckpt / WEIGHTS_FILE)
    check = None
    if check_images:
        check = fp16_check(config, weights, Path(data_dir or config.data_dir), check_images)
        if check["relative_change"] > tolerance:
            raise CarriedCheckpointError(
                f"fp16 weights change the reconstruction loss by {check['relative_change']:.2%} "
                f"(over {tolerance:.2%}): {check['fp32_loss']:.5f} -> {check['fp16_loss']:.5f}"
            )
    meta = carried_meta("autoencoder", config, config_file, ckpt, source, check, image_size=config.image_size)
    write_carried(out, weights, meta, ckpt / PREVIEW_FILE)
    return meta


@torch.no_grad()
def fp16_check(
    config: AutoencoderRunConfig, weights: dict[str, torch.Tensor], data_dir: Path, count: int
) -> dict[str, Any]:
    """Reconstruction loss (posterior mean, full images, the run's loss) of the fp32 weights and
    of the same weights rounded to fp16, on `count` images spread over the dataset."""
    if not (data_dir / "metadata.jsonl").is_file():
        raise CarriedCheckpointError(
            f"data dir {data_dir} not found "
            "(pass --data-dir, or --check-images 0 to skip the fp16 check)"
        )
    preset = AUTOENCODER_PRESETS[config.preset]
    rgba = preset.image_channels == 4
    rows = read_rows(data_dir)
    picked = [
        rows[i] for i in torch.linspace(0, len(rows) - 1, min(count, len(rows))).long().tolist()
    ]
    images = load_images(
        data_dir, picked, config.image_size, "RGBA" if rgba else "RGB", progress=False
    )
    x = premultiplied_model_range(images) if rgba else to_model_range(images)  # (N, C, H, W)
    vae = build_autoencoder(preset).eval()
    rounded = {k: v.half().float() if v.is_floating_point() else v for k, v in weights.items()}
    losses = []
    for state in (weights, rounded):
        vae.load_state_dict(state)
        recon = vae.decode(vae.encode(x).latent_dist.mean).sample
        losses.append(reconstruction_loss(recon, x, config.edge_weight, free_overshoot=rgba).item())
    return {
        "images": len(picked),
        "fp32_loss": losses[0],
        "fp16_loss": losses[1],
        "relative_change": abs(losses[1] - losses[0]) / max(losses[0], 1e-12),
    }
