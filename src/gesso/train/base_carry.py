"""Carry a base denoiser run to a later session: the EMA weights of its newest exact checkpoint
become a carried checkpoint (train/carried_checkpoint.py), once fp16 weights are shown to predict
as the fp32 ones do.

    gesso train carry --run-dir runs/base2 --out models/carried/base2-denoiser --config configs/base2.yaml

Only the EMA weights travel (half the size of both sets): a warm start begins the trained and the
EMA weights from them, so the run goes on from its smoothed state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from gesso.model.denoiser import build_denoiser
from gesso.train.carried_checkpoint import (
    DENOISER_WEIGHTS_FILE,
    CarriedCheckpointError,
    carried_meta,
    check_same_settings,
    write_carried,
)
from gesso.train.checkpoints import META_FILE, latest_checkpoint
from gesso.train.run_config import BaseRunConfig, load_run_config

SAMPLES_FILE = "samples.png"


def is_base_run(run_dir: Path) -> bool:
    """Whether the newest checkpoint under `run_dir/checkpoints` is a base denoiser's."""
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    return ckpt is not None and (ckpt / "ema.safetensors").is_file()


def carry_base_run(
    run_dir: Path, out: Path, config_file: Path | None = None, tolerance: float = 0.01
) -> dict[str, Any]:
    """Write `out` from the newest checkpoint under `run_dir/checkpoints`; return its meta.

    `config_file`, when given, names the config and must hold the run's settings. The fp16 check
    refuses a relative change of the denoiser's prediction above `tolerance`.
    """
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None:
        raise CarriedCheckpointError(f"{run_dir}: no checkpoint under {run_dir / 'checkpoints'}")
    source = json.loads((ckpt / META_FILE).read_text())
    try:
        config = BaseRunConfig(**source["config"])
    except (KeyError, TypeError) as exc:
        raise CarriedCheckpointError(f"{ckpt}: not a base denoiser checkpoint ({exc})") from exc
    if config_file is not None:
        check_same_settings(config, load_run_config(config_file, BaseRunConfig), config_file)
    weights = load_file(ckpt / "ema.safetensors")
    check = fp16_check(config, weights)
    if check["relative_change"] > tolerance:
        raise CarriedCheckpointError(
            f"fp16 weights change the denoiser's prediction by {check['relative_change']:.2%} "
            f"(over {tolerance:.2%})"
        )
    meta = carried_meta("denoiser", config, config_file, ckpt, source, check, pooled_text=config.pooled_text)
    write_carried(out, weights, meta, ckpt / SAMPLES_FILE, DENOISER_WEIGHTS_FILE)
    return meta


@torch.no_grad()
def fp16_check(config: BaseRunConfig, weights: dict[str, torch.Tensor], count: int = 8) -> dict[str, Any]:
    """The relative RMS difference between the predictions of the fp32 weights and of the same
    weights rounded to fp16, on `count` seeded random inputs at times across 0..1000."""
    from gesso.train.base_loop import denoiser_config

    preset = denoiser_config(config)
    model = build_denoiser(preset).eval()
    generator = torch.Generator().manual_seed(0)
    size = preset.latent_size
    x = torch.randn(count, preset.latent_channels, size, size, generator=generator)
    states = torch.randn(count, 16, preset.text_dim, generator=generator)
    mask = torch.ones(count, 16, dtype=torch.long)
    t = torch.linspace(0, 1000, count)
    outputs = []
    for state in (weights, {k: v.half().float() if v.is_floating_point() else v for k, v in weights.items()}):
        model.load_state_dict(state)
        outputs.append(model(x, encoder_hidden_states=states, encoder_attention_mask=mask, timestep=t,
                             return_dict=False)[0])
    change = (outputs[1] - outputs[0]).pow(2).mean().sqrt() / outputs[0].pow(2).mean().sqrt().clamp_min(1e-12)
    return {"inputs": count, "relative_change": change.item()}
